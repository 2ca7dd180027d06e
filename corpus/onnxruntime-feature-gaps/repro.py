# onnxruntime: its feature gaps, each a one-node repro in the folder beside this script.
# Exits 1 while any is still missing, 0 once every one converts.
import pathlib, subprocess, sys

here = pathlib.Path(__file__).resolve().parent
folders = ['onnxruntime-load-exception-notimplemented-8f6ecdcad6', 'onnxruntime-load-exception-notimplemented-48027c7954']
missing = [name for name in folders
           if subprocess.run([sys.executable, 'repro.py'], cwd=here / name,
                             capture_output=True).returncode != 0]
print(f'{len(missing)} of {len(folders)} still missing: {missing}')
sys.exit(1 if missing else 0)
