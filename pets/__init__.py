"""Oxford-IIIT Pet breed classifier: the vision half of the lesson, offline and CPU-friendly.

Modules:
    config    -- :class:`PetsConfig`, the one dataclass saved as JSON next to the weights.
    data      -- find photos (torchvision layout or ``<Breed>_<n>.jpg``), split, decode.
    augment   -- fast.ai-style augmentation on tensors, perspective warp with reflection padding.
    models    -- backbones (EfficientNet-Lite0, ResNet-34) + the fast.ai head, layer groups.
    train     -- :class:`PetsClassifier`: frozen then unfrozen one-cycle, progressive resizing.
    heatmap   -- hooks, average-activation map, Grad-CAM, overlays, the hand-made convolution.
    plots     -- most-confused pairs, top losses.
    probe     -- linear probe on frozen features (the baseline to beat).
Commands: ``python -m pets.train``, ``pets.predict``, ``pets.heatmap``, ``pets.preview``.
"""
