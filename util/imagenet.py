"""ImageNet's per-channel statistics, with which VGG19 and CSAIL's ResNet were trained."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
