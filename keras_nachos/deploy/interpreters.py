"""The LiteRT interpreter: `ai-edge-litert`'s, else TensorFlow's."""


def make_interpreter(model_path=None, model_content=None, num_threads=None):
    """A LiteRT interpreter of a `.tflite` file or flatbuffer.

    `ai_edge_litert.interpreter.Interpreter` (the `ai-edge-litert` package,
    `pip install "keras-nachos[litert]"`) when installed, else
    `tf.lite.Interpreter` (deprecated by TensorFlow in its favour, same
    kernels).
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - depends on the extras installed
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its deprecation notice
            return tf.lite.Interpreter(
                model_path=model_path, model_content=model_content,
                num_threads=num_threads,
            )
    return Interpreter(
        model_path=model_path, model_content=model_content,
        num_threads=num_threads,
    )


def interpreter_name():
    """Which interpreter `make_interpreter` uses."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:  # pragma: no cover
        return "tf.lite.Interpreter"
    return "ai_edge_litert.interpreter.Interpreter"
