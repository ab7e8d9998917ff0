"""ProGAN's sliced Wasserstein distance: pyramid, patches, distance, seeding."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from data import synthetic
from evaluation import swd as swd_module
from evaluation.swd import (FAKE, REAL, PatchSet, laplacian_pyramid, level_heights, normalize_patches, pyr_down,
                            pyr_up, sample_patches, sliced_wasserstein, swd, swd_between)

KERNEL_5X5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256  # cv2.pyrDown's


def scenes(first: int, count: int, size: int = 64) -> np.ndarray:
    """Rendered synthetic scenes as uint8 (N,3,H,W)."""
    images = [synthetic.render(i, size, 0, 'test')[1] for i in range(first, first + count)]
    return np.stack(images).transpose(0, 3, 1, 2)


@pytest.fixture(scope='module')
def images():
    return scenes(0, 16)


def test_levels_halve_from_the_height_down_to_16px():
    assert level_heights(256, 256) == [256, 128, 64, 32, 16]
    assert level_heights(64, 64) == [64, 32, 16]
    assert level_heights(15, 64) == []


def test_pyramid_filters_are_the_5x5_binomial_with_mirrored_borders():
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 16, 12)).astype(np.float32)
    direct = ndimage.convolve(x, KERNEL_5X5[None, None], mode='mirror')[:, :, ::2, ::2]
    np.testing.assert_allclose(pyr_down(x), direct, rtol=1e-5, atol=1e-3)
    coarse = pyr_down(x)
    zero_filled = np.zeros_like(x)
    zero_filled[:, :, ::2, ::2] = coarse
    direct_up = ndimage.convolve(zero_filled, 4 * KERNEL_5X5[None, None], mode='mirror')
    np.testing.assert_allclose(pyr_up(coarse, x.shape[2:]), direct_up, rtol=1e-5, atol=1e-3)


def test_laplacian_pyramid_reconstructs_the_images(images):
    levels = laplacian_pyramid(images, 3)
    assert [level.shape[2] for level in levels] == [64, 32, 16]
    rebuilt = levels[-1]
    for level in levels[-2::-1]:
        rebuilt = pyr_up(rebuilt, level.shape[2:]) + level
    np.testing.assert_allclose(rebuilt, images.astype(np.float32), atol=1e-3)


def test_patches_are_7x7_windows_of_the_level():
    level = np.arange(3 * 20 * 30, dtype=np.float32).reshape(3, 20, 30)
    patches = sample_patches(level, np.random.default_rng(1), count=50)
    assert patches.shape == (50, 3, 7, 7)
    for patch in patches:
        # the window's top-left value locates it; the whole window must match the slice there
        row, col = divmod(int(patch[0, 0, 0]), 30)
        assert 0 <= row <= 20 - 7 and 0 <= col <= 30 - 7
        np.testing.assert_array_equal(patch, level[:, row:row + 7, col:col + 7])


def test_patch_channels_are_normalised_over_the_set():
    patches = np.random.default_rng(0).normal(5, 3, (200, 3, 7, 7)).astype(np.float32)
    patches[:, 2] = 7.0  # a constant channel must not produce NaN
    desc = normalize_patches(patches).reshape(200, 3, 7, 7)
    np.testing.assert_allclose(desc[:, :2].mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(desc[:, :2].std(axis=(0, 2, 3)), 1, atol=1e-5)
    assert np.all(desc[:, 2] == 0)


def test_a_channel_that_varies_by_float_rounding_only_is_not_blown_up_to_unit_variance():
    # 201 levels plus float32 rounding (the pyramid's is up to 2.5e-5): constant, so centred to ~0
    rng = np.random.default_rng(0)
    patches = rng.normal(5, 3, (2048, 3, 7, 7)).astype(np.float32)
    patches[:, 1] = np.float32(201) + rng.uniform(-2e-5, 2e-5, patches[:, 1].shape).astype(np.float32)
    patches[:, 2] = 201.0  # exactly constant over 10^5 values: float32 sums drift here
    desc = normalize_patches(patches).reshape(2048, 3, 7, 7)
    assert np.abs(desc[:, 1:]).max() < 1e-4
    np.testing.assert_allclose(desc[:, 0].std(), 1, atol=1e-5)  # a channel that varies is still scaled


def test_flat_sets_of_any_colours_are_at_distance_zero():
    # per set, every flat image normalises to zero descriptors: two flat sets cannot differ
    # (201 against 128 gave 258 at 64 px, from float32 sums of the coarsest level)
    for first, second in ((201, 128), (255, 0), (77, 128)):
        result = swd(np.full((16, 3, 64, 64), first, np.uint8), np.full((16, 3, 64, 64), second, np.uint8))
        assert result.levels == {64: 0.0, 32: 0.0, 16: 0.0}, (first, second)


def test_distance_of_a_point_set_to_itself_is_zero_and_grows_with_a_shift():
    a = np.random.default_rng(0).normal(size=(500, 147)).astype(np.float32)
    rng = np.random.default_rng(1)
    assert sliced_wasserstein(a, a, rng) == 0.0
    small, large = sliced_wasserstein(a, a + 0.1, rng), sliced_wasserstein(a, a + 1.0, rng)
    assert 0 < small < large


def test_identical_patch_sets_give_zero(images):
    # the same images drawn with the same stream: every level's descriptors coincide
    first, second = PatchSet(3, REAL), PatchSet(3, REAL)
    first.add(images)
    second.add(images)
    result = swd_between(first, second, seed=3)
    assert list(result.levels) == [64, 32, 16]
    assert result.mean == 0.0


def test_identical_sets_only_leave_the_sampling_floor_which_shrinks_with_more_images():
    # reals and fakes draw their patches independently (as ProGAN does), so two copies of a set
    # differ only by patch sampling; four times the images should roughly halve that floor
    few, many = scenes(0, 8), scenes(0, 32)
    floor_few, floor_many = swd(few, few, seed=0).mean, swd(many, many, seed=0).mean
    assert floor_many < 0.7 * floor_few


def test_swd_grows_with_added_noise(images):
    rng = np.random.default_rng(0)
    values = [swd(images, images, seed=0).mean]
    for sigma in (25, 60):
        noisy = np.clip(images + rng.normal(0, sigma, images.shape), 0, 255).astype(np.uint8)
        values.append(swd(images, noisy, seed=0).mean)
    assert values[0] < values[1] < values[2]
    assert values[2] > 1.5 * values[0]


def test_same_seed_repeats_and_batching_does_not_matter(images):
    fakes = scenes(16, 16)
    once = swd(images, fakes, seed=7)
    assert swd(images, fakes, seed=7).levels == once.levels
    assert swd(images, fakes, seed=8).levels != once.levels
    real, fake = PatchSet(7, REAL), PatchSet(7, FAKE)
    for start in range(0, 16, 5):  # uneven batches
        real.add(images[start:start + 5])
        fake.add(torch.from_numpy(fakes[start:start + 5]))
    assert swd_between(real, fake, seed=7).levels == once.levels


def test_signed_float_images_are_read_like_saved_pngs(images):
    signed = torch.from_numpy(images).float() / 255 * 2 - 1  # exactly representable, no truncation issues
    signed += 1e-4  # stays inside the same 8-bit level after truncation
    assert swd(signed, images, seed=0).levels == swd(images, images, seed=0).levels


def test_result_dict_scales_levels_by_1e3_and_averages(monkeypatch, images):
    monkeypatch.setattr(swd_module, 'sliced_wasserstein', lambda a, b, rng: 0.002)
    out = swd(images, images).as_dict()
    assert out['swd_levels'] == {'64': pytest.approx(2.0), '32': pytest.approx(2.0), '16': pytest.approx(2.0)}
    assert out['swd'] == pytest.approx(2.0)


@pytest.mark.parametrize('fake_count, fake_size, message', [(8, 64, 'two non-empty sets of the same size'),
                                                             (16, 32, 'real and generated images of one size')])
def test_sets_of_different_count_or_size_are_refused(images, fake_count, fake_size, message):
    with pytest.raises(ValueError, match=message):
        swd(images, scenes(0, fake_count, fake_size))
