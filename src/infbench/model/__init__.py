"""The model: the data, training, the weights, the ONNX exports and their checks, and the reference outputs with
the comparison every runtime's answers are judged by (parity)."""
