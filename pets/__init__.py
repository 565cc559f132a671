"""Oxford-IIIT Pet breed classifier: the vision half of the lesson, offline and CPU-friendly.

Modules:
    config    -- :class:`PetsConfig`, the one dataclass saved as JSON next to the weights.
    data      -- find photos (torchvision layout or ``<Breed>_<n>.jpg``), split, decode.
    augment   -- fast.ai-style augmentation on tensors, perspective warp with reflection padding.
    models    -- backbones (EfficientNet-Lite0/1/2 from their weights packages, ResNet-34) + the
                 fast.ai head, layer groups.
    train     -- :class:`PetsClassifier`: frozen then unfrozen one-cycle, progressive resizing.
    heatmap   -- hooks, average-activation map, Grad-CAM, overlays, the hand-made convolution.
    plots     -- most-confused pairs, top losses.
    probe     -- linear probe on frozen features (the baseline to beat).
    cv        -- stratified K-fold accuracy (mean ± sd) per backbone: probe, head, fine-tuning.
Commands: ``python -m pets.train``, ``pets.cv``, ``pets.predict``, ``pets.heatmap``, ``pets.preview``.
"""
