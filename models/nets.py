"""The PyTorch definitions of tinyq's test models (see models/README.md).

Each network takes CIFAR-10 images as float NCHW [N, 3, 32, 32] normalised
like the LeNet lab, x = (pixel / 255 - 0.5) / 0.5 (so in [-1, 1]), and
returns 10 logits.  Attribute names fix the state_dict keys of the committed
safetensors files; do not rename them.
"""

import torch
import torch.nn as nn


class ResNet8Block(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, add, ReLU.

    Where the shape changes (stride 2 and more filters) the shortcut is a 1x1
    stride-2 conv with a bias and no BatchNorm, as in the MLPerf Tiny
    reference (Keras Conv2D(1, strides=2) straight into the add); otherwise
    it is the identity.
    """

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=True)
        else:
            self.shortcut = None

    def forward(self, x):
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.shortcut is None else self.shortcut(x)
        return self.relu2(y + s)


class ResNet8(nn.Module):
    """MLPerf Tiny image-classification ResNet-8 (78k parameters).

    stem conv3x3 16 + BN + ReLU; stages of 16 (stride 1), 32 (stride 2) and
    64 (stride 2) filters, one block each; 8x8 average pool; flatten; dense 10.
    The stride-2 3x3 convs pad 1 on every side (PyTorch's padding=1), not
    TensorFlow's "same" (0 before, 1 after): with an even input size both give
    the same output size but sample different pixels.
    """

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.stage1 = ResNet8Block(16, 16, 1)
        self.stage2 = ResNet8Block(16, 32, 2)
        self.stage3 = ResNet8Block(32, 64, 2)
        self.pool = nn.AvgPool2d(8)  # ONNX AveragePool kernel 8x8 stride 8
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.relu(self.bn(self.conv(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        x = torch.flatten(self.pool(x), 1)  # ONNX Flatten(axis=1)
        return self.fc(x)  # ONNX Gemm


def _dw_block(c_in, c_out, stride):
    """Depthwise 3x3 (groups=c_in) + BN + ReLU6, pointwise 1x1 + BN + ReLU6."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
        nn.BatchNorm2d(c_in),
        nn.ReLU6(),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(),
    )


# (output channels, stride of the depthwise conv) of each block.
DSCNN_BLOCKS = [(32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1)]
DSCNN_STEM = 16


class DSCNN(nn.Module):
    """MobileNet-v1-style depthwise-separable CNN for 32x32 inputs.

    stem conv3x3 16 + BN + ReLU6 at 32x32, then the seven depthwise-separable
    blocks of DSCNN_BLOCKS (32, 64, 64, 128, 128, 256, 256 channels; the
    stride-2 depthwise convs downsample to 16x16, 8x8 and 4x4), global
    average pool, dense 10 (142k parameters).
    """

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, DSCNN_STEM, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(DSCNN_STEM),
            nn.ReLU6(),
        )
        blocks, c = [], DSCNN_STEM
        for c_out, stride in DSCNN_BLOCKS:
            blocks.append(_dw_block(c, c_out, stride))
            c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)  # ONNX GlobalAveragePool
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        x = self.pool(self.blocks(self.stem(x)))
        # A reshape to a constant [-1, C] (ONNX Reshape with a constant shape
        # input), where ResNet8 uses Flatten, so the two models exercise both.
        x = x.reshape(-1, self.fc.in_features)
        return self.fc(x)


MODELS = {"resnet8": ResNet8, "dscnn": DSCNN}
