"""Portrait blur: the lens kernel, the background blur that leaves the people out, and MRF Blend's
background_blur (people exact, the rest blurred, the Blender mix identity kept)."""

from __future__ import annotations

import numpy as np
import pytest

from instyle.frame_state import FrameState, Instance
from instyle.ops.blend import composite
from instyle.ops.depth_of_field import background_blur, lens_kernel, linear_to_srgb, srgb_to_linear
from instyle.stages import mrf_blend
from instyle.wire.params import ParamError


def person_on_stripes(h: int = 80, w: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A white rectangle (the person) on vertical black and grey stripes (a sharp background)."""
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[:, ::4] = 0.6
    person = np.zeros((h, w), np.float32)
    person[20:60, 45:75] = 1.0
    rgb[person > 0] = 1.0
    return rgb, person


class TestLensKernel:
    def test_a_disc_that_sums_to_one(self):
        k = lens_kernel(5.0)
        assert k.shape == (11, 11) and k.dtype == np.float32
        assert k.sum() == pytest.approx(1.0, abs=1e-6)
        assert k[5, 5] == k.max() and k[0, 0] == 0 and k[5, 0] > 0  # round, reaching the radius on the axes

    def test_fractional_radius_rim(self):
        k = lens_kernel(2.7)  # the pixels 3 away are 0.2 inside the rim
        assert k.shape == (7, 7) and 0 < k[3, 0] < k[3, 3]

    def test_exception(self):
        with pytest.raises(ValueError, match="positive"):
            lens_kernel(0.0)


class TestBackgroundBlur:
    def test_smoke_stripes_blur_and_input_untouched(self):
        rgb, person = person_on_stripes()
        before = rgb.copy()
        out = background_blur(rgb, person, 6.0)
        assert out.shape == rgb.shape and out.dtype == np.float32
        assert np.array_equal(rgb, before)
        assert rgb[:, :30].std() > 0.2 and out[10:70, 8:30].std() < 0.02  # the stripes are averaged away

    def test_the_person_does_not_bleed_into_the_background(self):
        rgb, person = person_on_stripes()
        dark_person = rgb.copy()
        dark_person[person > 0] = 0.0
        out, dark = background_blur(rgb, person, 6.0), background_blur(dark_person, person, 6.0)
        outside = person == 0
        assert np.abs(out[outside] - dark[outside]).max() < 1e-5  # the person's colour has no weight
        assert out[30:50, 38:44].max() < 0.7  # no white halo next to the person

    def test_radius_zero_is_the_identity_and_a_bright_point_becomes_a_disc(self):
        rgb = np.zeros((41, 41, 3), np.float32)
        rgb[20, 20] = 1.0
        person = np.zeros((41, 41), np.float32)
        assert background_blur(rgb, person, 0.0) is rgb
        out = background_blur(rgb, person, 5.0)
        centre = linear_to_srgb(lens_kernel(5.0)[5:6, 5:6])[0, 0]  # averaged in linear light, then sRGB
        assert out[20, 20, 0] == pytest.approx(centre, abs=1e-5)
        assert out[20, 25, 0] > 0 and out[20, 27, 0] == 0 and out[24, 24, 0] == 0

    def test_srgb_round_trip(self):
        values = np.linspace(0, 1, 256, dtype=np.float32)
        assert np.abs(linear_to_srgb(srgb_to_linear(values)) - values).max() < 1e-5

    def test_exception(self):
        with pytest.raises(ValueError, match="HxWx3 and HxW"):
            background_blur(np.zeros((4, 4, 3), np.float32), np.zeros((4, 5), np.float32), 2.0)


class TestMrfBlendBackgroundBlur:
    @pytest.mark.parametrize("mode", mrf_blend.SPEC.by_name["mode"].values)
    def test_person_exact_background_blurred_and_the_mix_identity(self, mode):
        rgb, person = person_on_stripes()
        band = 6.0
        state = FrameState(rgb=rgb, index=0, mask=person)
        out = mrf_blend.run(state, mrf_blend.SPEC.resolve({"mode": mode, "band": band, "background_blur": 6.0}),
                            None)
        image = out["image"]
        deep_inside = np.zeros_like(person, bool)
        deep_inside[20 + 4:60 - 4, 45 + 4:75 - 4] = True
        assert np.array_equal(image[deep_inside], rgb[deep_inside])
        assert image[10:70, 8:30].std() < 0.02
        assert np.array_equal(out["alpha"], np.ones_like(person))
        assert np.array_equal(composite(rgb, out["stylized_for_mix"], out["alpha"]), image)

    def test_stylized_people_on_a_blurred_background(self):
        rgb, person = person_on_stripes()
        stylized = np.full_like(rgb, 0.25)
        out = mrf_blend.run(FrameState(rgb=rgb, index=0, mask=person, stylized=stylized),
                            mrf_blend.SPEC.resolve({"band": 6.0, "background_blur": 6.0}), None)
        assert np.array_equal(out["image"][24:56, 49:71], stylized[24:56, 49:71])
        assert out["image"][10:70, 8:30].std() < 0.02 and out["image"][10:70, 8:30].mean() > 0.1

    def test_a_background_in_its_own_style_is_blurred_behind_the_people(self):
        rgb, person = person_on_stripes()
        h, w = person.shape
        stylized = np.where(person[:, :, None] > 0, np.float32(0.25), 1.0 - rgb).astype(np.float32)
        instances = [Instance((45.0, 20.0, 75.0, 60.0), "person", 0.9, person),
                     Instance((0.0, 0.0, float(w), float(h)), "background", 1.0, 1.0 - person)]
        state = FrameState(rgb=rgb, index=0, instances=instances, mask=np.ones_like(person), stylized=stylized)
        out = mrf_blend.run(state, mrf_blend.SPEC.resolve({"band": 6.0, "background_blur": 6.0}), None)
        assert np.array_equal(out["image"][24:56, 49:71], stylized[24:56, 49:71])
        expected = background_blur(stylized, person, 6.0)  # the styled background, blurred
        assert np.array_equal(out["image"][:, :30], expected[:, :30]) and out["image"][10:70, 8:30].std() < 0.02
        assert np.abs(out["image"][:, :30] - background_blur(rgb, person, 6.0)[:, :30]).min() > 0.1  # not the footage

    def test_nobody_found_blurs_the_whole_frame(self):
        rgb, _ = person_on_stripes()
        empty = np.zeros(rgb.shape[:2], np.float32)
        out = mrf_blend.run(FrameState(rgb=rgb, index=0, mask=empty),
                            mrf_blend.SPEC.resolve({"background_blur": 4.0}), None)
        assert np.array_equal(out["image"], background_blur(rgb, empty, 4.0))

    def test_exception_without_a_mask(self):
        rgb, _ = person_on_stripes()
        with pytest.raises(ParamError, match="needs an Instance Mask") as err:
            mrf_blend.run(FrameState(rgb=rgb, index=0), mrf_blend.SPEC.resolve({"background_blur": 4.0}), None)
        assert err.value.param == "background_blur"

    def test_off_by_default(self):
        assert mrf_blend.SPEC.resolve({})["background_blur"] == 0.0
