"""TensorFlow guards around a served decode, shared by the SavedModel exports."""


def checked_call(decode, inputs, checks, what):
    """`decode(*inputs)` once `checks` pass; its outputs without `finite`, once that holds.

    `checks`: TF assert ops on `inputs` (each message names its input), so a
    bad input is an `InvalidArgument` error. `decode` returns a dict with a
    bool `finite`; NaN or inf logits are an `InvalidArgument` error too,
    instead of `what` (e.g. "codes") chosen from them.
    """
    import tensorflow as tf  # only exports call this: keras_soundstorm stays TF-free on import

    with tf.control_dependencies(checks):
        inputs = [tf.identity(x) for x in inputs]
    outputs = dict(decode(*inputs))
    finite = tf.debugging.assert_equal(
        outputs.pop("finite"),
        True,
        message=f"The model's logits hold NaN or inf (NaN or inf weights?); no {what}.",
    )
    with tf.control_dependencies([finite]):
        return {name: tf.identity(value) for name, value in outputs.items()}
