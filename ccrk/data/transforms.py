"""Image transforms of docs/method.md#image-transforms, with CLIP normalisation; augmentations are switchable.

The demo's captions name positions (left/right), so its config turns flipping off: a flip would
make "at the left" wrong.
"""

import torch
from torchvision.transforms import v2 as T

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _to_normalised_tensor():
    return [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(CLIP_MEAN, CLIP_STD)]


CACHE_BYTES = 1 << 30  # a training set whose transformed images fit in this is decoded once, not every epoch


def augments(crop_scale_min: float, hflip: bool, randaugment: bool) -> bool:
    """Whether the training transform draws anything at random (crop_scale_min 1: no crop, a plain resize)."""
    return crop_scale_min < 1 or hflip or randaugment


def cache_images(
    n_images: int, image_res: int, crop_scale_min: float, hflip: bool, randaugment: bool
) -> bool:
    """Keep each image's tensor after its first use: the transform is deterministic and they fit CACHE_BYTES."""
    return not augments(crop_scale_min, hflip, randaugment) and n_images * 3 * image_res**2 * 4 <= CACHE_BYTES


def train_transform(
    image_res: int, crop_scale_min: float = 0.5, hflip: bool = True, randaugment: bool = True
):
    """RandomResizedCrop (bicubic) -> optional flip -> optional RandAugment(2, 7) -> tensor -> CLIP norm.

    Without any augmentation (crop_scale_min 1, no flip, no RandAugment) it is `eval_transform`: a
    RandomResizedCrop at scale 1 would still stretch the image by a random aspect ratio.
    """
    if not augments(crop_scale_min, hflip, randaugment):
        return eval_transform(image_res)
    steps = [
        T.RandomResizedCrop(
            image_res, scale=(crop_scale_min, 1.0), interpolation=T.InterpolationMode.BICUBIC, antialias=True
        )
    ]
    if hflip:
        steps.append(T.RandomHorizontalFlip())
    if randaugment:
        steps.append(T.RandAugment(num_ops=2, magnitude=7))
    return T.Compose(steps + _to_normalised_tensor())


def eval_transform(image_res: int):
    """Resize to a square (bicubic) -> tensor -> CLIP norm."""
    return T.Compose(
        [T.Resize((image_res, image_res), interpolation=T.InterpolationMode.BICUBIC, antialias=True)]
        + _to_normalised_tensor()
    )
