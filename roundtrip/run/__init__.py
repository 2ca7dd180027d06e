"""Running graphs (ONNX Runtime, onnx's ReferenceEvaluator) and isolating crashes and hangs in workers."""
