"""Constants shared across the package."""

# ImageNet normalisation used by every official recipe (pixels / 255 first).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
