"""FLOP count of a SoundStorm forward pass (for benchmarks)."""


def flops_per_pass(backbone, num_frames, batch_size=1):
    """Multiply-add FLOPs (2 per MAC) of one forward pass incl. one head."""
    d, f, t = backbone.hidden_dim, backbone.intermediate_dim, num_frames
    per_layer = (
        2 * t * d * f * 2 * 2  # two feed-forward modules, two matmuls each
        + 2 * t * d * 3 * d  # qkv
        + 2 * t * t * d * 2  # scores and weighted values
        + 2 * t * d * d  # attention output
        + 2 * t * d * 2 * d
        + 2 * t * d * d  # conv pointwise in / out
        + 2 * t * d * backbone.conv_kernel_size  # depthwise
    )
    head = 2 * t * d * backbone.codebook_size
    return batch_size * (backbone.num_layers * per_layer + head)
