"""Named SoundStorm backbone sizes.

"paper" is the paper's ~350M model; "small" is the benchmark config; "tiny" is
for tests and quick starts.
"""

CONFIGS = {
    "paper": dict(
        num_levels=12,
        codebook_size=1024,
        conditioning_vocabulary_size=1024,
        conditioning_rate_ratio=2,
        hidden_dim=1024,
        num_layers=12,
        num_heads=16,
        intermediate_dim=4096,
        conv_kernel_size=5,
    ),
    "small": dict(
        num_levels=12,
        codebook_size=1024,
        conditioning_vocabulary_size=1024,
        conditioning_rate_ratio=2,
        hidden_dim=512,
        num_layers=6,
        num_heads=8,
        intermediate_dim=2048,
        conv_kernel_size=5,
    ),
    "tiny": dict(
        num_levels=4,
        codebook_size=64,
        conditioning_vocabulary_size=32,
        conditioning_rate_ratio=2,
        hidden_dim=64,
        num_layers=2,
        num_heads=4,
        intermediate_dim=128,
        conv_kernel_size=5,
    ),
}
