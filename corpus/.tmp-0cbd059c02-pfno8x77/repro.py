# onnx2tf raises TypeError converting the graph on a Concat node
# onnx2tf 1.29.24, tensorflow 2.19.0, tf_keras 2.19.0, onnx 1.19.1, onnxruntime 1.23.0, numpy 1.26.4.
# Exits 1 while the bug shows, 0 once it is fixed.

import tempfile
import numpy as np
import onnx
import onnx2tf

onnx_model = onnx.parser.parse_model("""
<
   ir_version: 8,
   opset_import: ["" : 18]
>
graph (float[N,d1,d2,1] in0) => (int32[3] output) 
   <int32[1] c1 =  {0}, int32 c2 =  {2}, int64[1] c3 =  {2}, int64[1] c4 =  {3}, int64[1] c5 =  {0}, int32[1] c6 =  {0}>
{
   shape1 = Shape (in0)
   cast1 = Cast <to: int = 6> (shape1)
   slice1 = Slice (cast1, c3, c4, c5)
   squeeze1 = Squeeze (slice1, c5)
   div1 = Div (squeeze1, c2)
   unsqueeze1 = Unsqueeze (div1, c5)
   output = Concat <axis: int = 0> (c1, c6, unsqueeze1)
}
""")

work = tempfile.mkdtemp()
keras_model = onnx2tf.convert(onnx_graph=onnx_model, output_folder_path=work, disable_model_save=True, not_use_onnxsim=True, non_verbose=True, verbosity="error")
