# onnx2keras: its feature gaps, each a one-node repro in the folder beside this script.
# Exits 1 while any is still missing, 0 once every one converts.
import pathlib, subprocess, sys

here = pathlib.Path(__file__).resolve().parent
folders = ['onnx2keras-load-exception-unsupported-op-abs-4f39a18d00', 'onnx2keras-load-exception-unsupported-op-argmin-60f5272a95', 'onnx2keras-load-exception-unsupported-op-ceil-e22191908f', 'onnx2keras-load-exception-unsupported-op-cumsum-67762542fc', 'onnx2keras-load-exception-unsupported-op-einsum-5608ef3477', 'onnx2keras-load-exception-unsupported-op-equal-e6605f7568', 'onnx2keras-load-exception-attributeerror-8f268260f9', 'onnx2keras-load-exception-unsupported-op-globalmaxpool-84c93eb400', 'onnx2keras-load-exception-unsupported-op-groupnormalization-96830c4854', 'onnx2keras-load-exception-unsupported-op-hardsigmoid-c00efea878', 'onnx2keras-load-exception-unsupported-op-less-dc76921d56', 'onnx2keras-load-exception-unsupported-op-neg-4416b4bf2e', 'onnx2keras-load-exception-assertionerror-46f479440b', 'onnx2keras-load-exception-unsupported-op-reducel1-c04d4965ec', 'onnx2keras-load-exception-unsupported-op-reducemin-1a77641255', 'onnx2keras-load-exception-unsupported-op-reduceprod-0e5b7c9ffd', 'onnx2keras-load-exception-unsupported-op-reducesumsquare-2acd181398', 'onnx2keras-load-exception-assertionerror-fd8fe43162', 'onnx2keras-load-exception-unsupported-op-softplus-eaa8614b54', 'onnx2keras-load-exception-unsupported-op-tile-a5ea74c741', 'onnx2keras-load-exception-unsupported-op-topk-c3b6e00248', 'onnx2keras-load-exception-notimplementederror-2569a68a2d', 'onnx2keras-load-exception-attributeerror-0b6f428082']
missing = [name for name in folders
           if subprocess.run([sys.executable, 'repro.py'], cwd=here / name,
                             capture_output=True).returncode != 0]
print(f'{len(missing)} of {len(folders)} still missing: {missing}')
sys.exit(1 if missing else 0)
