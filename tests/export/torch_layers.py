"""Builds the torch.nn.Sequential of a dl-export safetensors file from its
metadata dl.torch_layers (plain data, JSON), without eval: the loader that
man/dl-export.1 documents, kept here so the tests run the documented code.

    import json, torch
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open("lenet-torch.safetensors", "pt") as f:
        meta = f.metadata()
    net = sequential(json.loads(meta["dl.torch_layers"]))
    net.load_state_dict(load_file("lenet-torch.safetensors"), strict=True)
"""
import torch

# the only modules dl-export describes: nothing else is ever constructed
MODULES = {"Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "ReLU",
           "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Dropout", "Flatten", "AdaptiveAvgPool2d"}


def sequential(layers):
    mods = []
    for item in layers:
        name = item["module"]
        if name == "Sequential":
            mods.append(sequential(item["layers"]))
        elif name in MODULES:
            mods.append(getattr(torch.nn, name)(*item["args"], **item["kwargs"]))
        else:
            raise ValueError("dl.torch_layers: unknown module %r" % name)
    return torch.nn.Sequential(*mods)
