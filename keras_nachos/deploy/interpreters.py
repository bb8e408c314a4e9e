"""The LiteRT interpreter: `ai-edge-litert`'s, else TensorFlow's."""


def make_interpreter(model_path=None, model_content=None, num_threads=None,
                     xnnpack=True):
    """A LiteRT interpreter of a `.tflite` file or flatbuffer.

    `ai_edge_litert.interpreter.Interpreter` (the `ai-edge-litert` package,
    `pip install "keras-nachos[litert]"`) when installed, else
    `tf.lite.Interpreter` (deprecated by TensorFlow in its favour, same
    kernels).

    Args:
        model_path: Path of a `.tflite` file.
        model_content: Or its bytes.
        num_threads: Optional number of threads.
        xnnpack: Boolean. `True` (default) lets LiteRT apply its XNNPACK
            delegate (its fastest CPU kernels); `False` runs LiteRT's own
            builtin kernels, whose int8 outputs are nearly TFLite Micro's
            (measured: 1 value of 2,304 one quantisation step apart; with
            XNNPACK about 1 in 30).
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
        from ai_edge_litert.interpreter import OpResolverType
    except ImportError:  # pragma: no cover - depends on the extras installed
        import warnings

        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
        OpResolverType = tf.lite.experimental.OpResolverType
        warnings.filterwarnings(  # Its deprecation notice, once per call site.
            "ignore", message=".*tf.lite.Interpreter is deprecated.*"
        )
    resolver = (OpResolverType.AUTO if xnnpack
                else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return Interpreter(
        model_path=model_path, model_content=model_content,
        num_threads=num_threads, experimental_op_resolver_type=resolver,
    )


def interpreter_name():
    """Which interpreter `make_interpreter` uses."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:  # pragma: no cover
        return "tf.lite.Interpreter"
    return "ai_edge_litert.interpreter.Interpreter"
