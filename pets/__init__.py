"""Oxford-IIIT Pet breed classifier: the vision half of the lesson, offline and CPU-friendly.

The public API (what ``notebooks/pets.ipynb`` and the commands call):
    photos       -- :func:`load_pets` (-> :class:`PetPhotos`; ``per_breed`` for a small set),
                    :func:`split_indices`, :func:`find_image_dir` (says how to get photos where
                    there are none), :func:`load_rgb`, :func:`to_uint8_tensor`.
    augmentation -- :class:`Augmenter`, :func:`save_augment_grid` (zero vs reflection padding).
    training     -- :class:`PetsConfig`, :func:`preset_values`, :class:`PetsClassifier` (``fit`` with
                    the frozen and unfrozen stages and progressive resizing, ``predict``,
                    ``predict_proba``, ``score``, ``save``/``load``), :func:`linear_probe`.
    errors       -- :func:`most_confused`, :func:`plot_most_confused`, :func:`plot_top_losses`.
    heatmaps     -- :func:`hook_output`, :func:`activation_map`, :func:`grad_cam`,
                    :func:`heatmap_for_image` (both maps of one photo as a PNG).
    convolution  -- :func:`edge_kernel`, :func:`hand_convolution`, :func:`save_hand_convolution`.

Modules, each importing only from the ones above it (ARCHITECTURE.md, ``## pets/``):
    config     -- :class:`PetsConfig`, the one dataclass saved as JSON next to the weights; presets.
    data       -- find photos (torchvision layout or ``<Breed>_<n>.jpg``), split, decode.
    models     -- backbones (EfficientNet-Lite0/1/2 from their weights packages, ResNet-34) + the
                  fast.ai head, layer groups.
    heatmap    -- hooks, average-activation map, Grad-CAM, the hand-made convolution.
    augment    -- fast.ai-style augmentation on tensors, perspective warp with reflection padding.
    tensors    -- photos to tensors, batching, the device.
    classifier -- :class:`PetsClassifier`: frozen then unfrozen one-cycle, progressive resizing.
    probe      -- linear probe on frozen features (the baseline to beat).
    plots      -- every figure: most-confused pairs, top losses, overlays, augmentation grids.
Commands: ``python -m pets.train``, ``pets.cv``, ``pets.predict``, ``pets.preview``, ``pets.explain``
(not imported here: each is run as a module of its own).
"""
from pets.augment import Augmenter
from pets.classifier import PetsClassifier
from pets.config import PetsConfig, preset_values
from pets.data import PetPhotos, find_image_dir, load_pets, load_rgb, split_indices, to_uint8_tensor
from pets.heatmap import activation_map, edge_kernel, grad_cam, hand_convolution, hook_output
from pets.plots import (
    heatmap_for_image,
    most_confused,
    plot_most_confused,
    plot_top_losses,
    save_augment_grid,
    save_hand_convolution,
)
from pets.probe import linear_probe
from pets.tensors import default_device

__all__ = ["Augmenter", "PetPhotos", "PetsClassifier", "PetsConfig", "activation_map", "default_device",
           "edge_kernel", "find_image_dir", "grad_cam", "hand_convolution", "heatmap_for_image", "hook_output",
           "linear_probe", "load_pets", "load_rgb", "most_confused", "plot_most_confused", "plot_top_losses",
           "preset_values", "save_augment_grid", "save_hand_convolution", "split_indices", "to_uint8_tensor"]
