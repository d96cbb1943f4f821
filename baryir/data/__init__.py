"""Images, degradation synthesis, the all-in-one benchmark datasets and the demo benchmark.

- :mod:`baryir.data.io` -- read/write 8-bit RGB images; tensor conversion.
- :mod:`baryir.data.degradations` -- seeded noise, rain, haze, blur and low-light synthesis.
- :mod:`baryir.data.layout` -- the PromptIR-compatible folder layout and its checker.
- :mod:`baryir.data.datasets` -- training and paired test datasets (aio3, aio5, demo).
- :mod:`baryir.data.demo` -- builds a small demo benchmark from the shipped photographs.
"""

from baryir.data.datasets import (
    AllInOneTrainDataset,
    PairedTestDataset,
    augment,
    source_weights,
)
from baryir.data.degradations import (
    DEGRADATIONS,
    PARAMETER_RANGES,
    add_blur,
    add_gaussian_noise,
    add_haze,
    add_rain,
    degrade,
    low_light,
)
from baryir.data.demo import build_demo_benchmark
from baryir.data.io import IMAGE_EXTENSIONS, read_image, to_tensor, to_uint8, write_image
from baryir.data.layout import (
    BENCHMARKS,
    TASKS,
    TEST_SETS,
    benchmark_spec,
    check_layout,
    scan_layout,
    test_sets,
)

__all__ = [
    "AllInOneTrainDataset",
    "BENCHMARKS",
    "DEGRADATIONS",
    "IMAGE_EXTENSIONS",
    "PARAMETER_RANGES",
    "add_blur",
    "add_gaussian_noise",
    "add_haze",
    "add_rain",
    "augment",
    "benchmark_spec",
    "build_demo_benchmark",
    "check_layout",
    "degrade",
    "low_light",
    "PairedTestDataset",
    "read_image",
    "scan_layout",
    "source_weights",
    "TASKS",
    "TEST_SETS",
    "test_sets",
    "to_tensor",
    "to_uint8",
    "write_image",
]
