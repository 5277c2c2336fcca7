"""engine: the instrument's arithmetic — model files, vocabularies, voices, the mixing step.

numpy and onnxruntime, no sockets, no threads, no files but model files; imports only protocol.
A new model format or mixing rule goes here; what plays it in time goes in live/.
"""
