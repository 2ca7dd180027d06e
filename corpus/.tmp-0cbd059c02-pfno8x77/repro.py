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
graph (float[N,d1,d2,1] in0) => (int32[4] output) 
   <int32[1] c1 =  {0}, int32 c2 =  {2}, int32 c3 =  {1}, int64[1] c4 =  {2}, int64[1] c5 =  {1}, int64[1] c6 =  {3}, int64[1] c7 =  {0}>
{
   shape1 = Shape (in0)
   cast1 = Cast <to: int = 6> (shape1)
   slice1 = Slice (cast1, c4, c6, c7)
   squeeze1 = Squeeze (slice1, c7)
   sub1 = Sub (squeeze1, c3)
   div1 = Div (sub1, c2)
   unsqueeze1 = Unsqueeze (div1, c7)
   slice2 = Slice (cast1, c5, c4, c7)
   squeeze2 = Squeeze (slice2, c7)
   sub2 = Sub (squeeze2, c3)
   div2 = Div (sub2, c2)
   unsqueeze2 = Unsqueeze (div2, c7)
   output = Concat <axis: int = 0> (c1, unsqueeze2, unsqueeze1, c1)
}
""")

work = tempfile.mkdtemp()
keras_model = onnx2tf.convert(onnx_graph=onnx_model, output_folder_path=work, disable_model_save=True, not_use_onnxsim=True, non_verbose=True, verbosity="error")
