#!/usr/bin/python3
"""Parameter and buffer totals of the PyTorch equivalents of our built-in
models (models/*.spec), for tests/unit/test_model_builtins.c:

  summary_totals.py          prints "NAME PARAMS BUFFERS OUTPUTS" per model

PARAMS is sum(p.numel() for p in parameters()), BUFFERS the running
statistics (running_mean + running_var; num_batches_tracked is PyTorch's
own counter and not counted), OUTPUTS the last layer's width.
"""
import torch
import torch.nn as nn
import torchvision


def tiny_imagenet(model):
    """The 64x64 stem of our resnet specs: 3x3 stride 1, no max pooling."""
    model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model


def vgg16_cifar():
    return nn.Sequential(torchvision.models.vgg16_bn().features, nn.Flatten(),
                         nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10))


def pilotnet():
    return nn.Sequential(
        nn.Conv2d(3, 24, 5, 2), nn.ReLU(), nn.Conv2d(24, 36, 5, 2), nn.ReLU(),
        nn.Conv2d(36, 48, 5, 2), nn.ReLU(), nn.Conv2d(48, 64, 3), nn.ReLU(),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(64 * 1 * 18, 100), nn.ReLU(), nn.Linear(100, 50), nn.ReLU(),
        nn.Linear(50, 10), nn.ReLU(), nn.Linear(10, 1))


def gtsrb_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 100, 7), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(100, 150, 4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(150, 250, 4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(250 * 3 * 3, 300), nn.ReLU(), nn.Linear(300, 43))


MODELS = {
    "vgg16": (vgg16_cifar, (3, 32, 32)),
    "resnet18": (lambda: tiny_imagenet(torchvision.models.resnet18(num_classes=200)), (3, 64, 64)),
    "resnet50": (lambda: tiny_imagenet(torchvision.models.resnet50(num_classes=200)), (3, 64, 64)),
    "pilotnet": (pilotnet, (3, 66, 200)),
    "gtsrb-cnn": (gtsrb_cnn, (3, 48, 48)),
}


def main():
    torch.set_num_threads(1)
    for name, (make, shape) in MODELS.items():
        m = make().eval()
        params = sum(p.numel() for p in m.parameters())
        bufs = sum(b.numel() for n, b in m.named_buffers() if "running_" in n)
        with torch.no_grad():
            out = m(torch.zeros(1, *shape)).shape[1]
        print(f"{name} {params} {bufs} {out}")


if __name__ == "__main__":
    main()
