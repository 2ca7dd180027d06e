"""A corpus entry's repro.py and issue.md: the bug in plain upstream calls, and nothing else.

`render` writes the script from the entry's data alone (spec.json, meta.json, weights.npz, model.onnx):
imports, the model in plain Keras (`keras_text`) or the ONNX graph as `onnx.parser` text (`onnx_text`),
weights and inputs inline or from a seeded generator (`arrays`), the conversion, the run and one final
check that raises while the bug shows.  `verdict` runs a script in a child process and reads how it
ended: the contract (1 shows, 0 fixed, 2 something else) lives there, not in the scripts.  `issue`
writes issue.md around the script.
"""
