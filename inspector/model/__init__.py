"""Model runtime: network definition, preprocessing, model cards, classifiers (torch and ONNX)."""
