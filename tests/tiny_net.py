"""A user's own classifier, for the tests of `package.module:function` models."""

import torch


class TinyNet(torch.nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        )
        self.classifier = torch.nn.Linear(32, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def build(num_classes: int) -> torch.nn.Module:
    return TinyNet(num_classes)
