# tf2onnx: its feature gaps, each a one-node repro in the folder beside this script.
# Exits 1 while any is still missing, 0 once every one converts.
import pathlib, subprocess, sys

here = pathlib.Path(__file__).resolve().parent
folders = ['tf2onnx-check-exception-validationerror-3857000b49', 'tf2onnx-check-exception-validationerror-aa3f1bf0a4', 'tf2onnx-check-exception-validationerror-011733d971']
missing = [name for name in folders
           if subprocess.run([sys.executable, 'repro.py'], cwd=here / name,
                             capture_output=True).returncode != 0]
print(f'{len(missing)} of {len(folders)} still missing: {missing}')
sys.exit(1 if missing else 0)
