"""Oxford-IIIT Pet breed classifier: the vision half of the lesson, offline and CPU-friendly.

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
Commands: ``python -m pets.train``, ``pets.cv``, ``pets.predict``, ``pets.preview``, ``pets.explain``.
"""
