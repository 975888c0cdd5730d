"""Labelled hard-case clips: short 768x576 shots, one for each case that masks and identities find hard, with
exact ground truth, written as PNG image sequences that the engine reads as footage.

Every clip is composited by `track.render`: people cut out of real footage and photographs with their RVM
mattes (`track.cut_out`) walk over a background, nearer (taller) people in front of farther ones, and opaque
objects drawn in front of everyone where a clip has them. A person's truth in a frame is the alpha that was
pasted, less what nearer people and objects cover (float HxW in [0, 1]): exact by construction, whatever
the matte got wrong about the original picture. A person counts while at least `track.VISIBLE` (25%) of them
is visible (inside the frame and not covered). Ids number the walkers from 1; a clip with a cut has other
people, with new ids, after it.

People: vtest.avi pedestrians standing clear of others in two frames (`track.cast`), walking across or
towards the camera; vtest.avi pedestrians seen from behind (`BACK_VIEWS`: the people standing clear of
others in a few frames whose feet moved up the frame, away from the camera, by more than 8% of their height
over the next 20 frames, and more than they moved sideways; those whose face still showed were left out by
eye); two people from OpenCV's sample photographs (a footballer in a kicking pose, messi5.jpg; a man catching
a ball, grey, basketball1.png); a CG character of an animated film (Megamind.avi frame 100: a close-up bust,
so always cut by the frame's bottom edge). Backgrounds: vtest.avi's empty plaza and OpenCV's sample
photographs (`mask.backgrounds`). What each clip holds is in its function's docstring (`CLIPS`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .mask import BACKGROUNDS, DATA, OUT, backgrounds
from .track import Shot, Sprite, Walker, cut_out, render

CLIPS_DIR = OUT / "clips"
FRAMES, QUICK_FRAMES = 30, 6
BACK_VIEWS = ((75, (574, 195, 607, 293)), (275, (269, 188, 300, 270)), (475, (637, 285, 679, 401)),
              (625, (357, 409, 414, 558)), (650, (319, 153, 347, 229)), (700, (276, 207, 309, 294)),
              (750, (638, 215, 674, 314)))
"""(vtest.avi frame, person box x1, y1, x2, y2) of people walking away from the camera."""
PHOTO_PEOPLE = (("messi5.jpg", 0, (78, 66, 451, 328)), ("basketball1.png", 0, (34, 81, 168, 473)))
CG_PEOPLE = (("Megamind.avi", 100, (349, 1, 712, 527)),)


@dataclass(frozen=True)
class Cast:
    """The clips' people: vtest.avi people walking across or towards the camera (`people`), seen from behind
    (`backs`), from photographs (`photos`), CG characters (`cg`); their backgrounds by name (uint8 576x768x3
    RGB: "plaza" and the stems of `mask.BACKGROUNDS`)."""

    people: list[Sprite]
    backs: list[Sprite]
    photos: list[Sprite]
    cg: list[Sprite]
    grounds: dict[str, np.ndarray]


@dataclass
class Clip:
    """A labelled clip: `frames` uint8 HxWx3 RGB; per frame, `ids` (int64 K) of the people at least VISIBLE
    visible and their visible alpha (`mattes`, `track.Matte`, in the same order); `starts`: the frames that
    begin a shot (0, and the first frame after each cut); `case`: what it tests, in words."""

    name: str
    case: str
    frames: list
    ids: list
    mattes: list
    starts: tuple[int, ...] = (0,)

    @staticmethod
    def of(shot: Shot, case: str) -> Clip:
        return Clip(shot.name, case, shot.frames, [ids for ids, _ in shot.truth], shot.mattes)

    def truth(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame f's people: ids (int64 K) and visible masks (float32 KxHxW in [0, 1])."""
        size = self.frames[f].shape[:2]
        masks = [m.paint(size) for m in self.mattes[f]]
        return self.ids[f], np.stack(masks) if masks else np.zeros((0, *size), np.float32)

    def then(self, other: Clip) -> Clip:
        """This clip, a hard cut, then `other` (its ids moved past this clip's)."""
        offset = max((int(i.max()) for i in self.ids if len(i)), default=0)
        return Clip(self.name, self.case, self.frames + other.frames, self.ids + [i + offset for i in other.ids],
                    self.mattes + other.mattes, self.starts + tuple(len(self.frames) + s for s in other.starts))


def cast(zoo, people: list[Sprite], plate: np.ndarray, quick: bool) -> Cast:
    """The clips' people cut out (`people` given: `track.cast`'s) and backgrounds (`plate`: the empty plaza,
    uint8 576x768x3 RGB); a quick run cuts out two of the people seen from behind."""
    from ..media import FrameSource

    frames = FrameSource()

    def cut(items) -> list[Sprite]:
        return [cut_out(zoo, frames.frame(str(DATA / name), index), box, f"{name} frame {index}")
                for name, index, box in items]

    backs = [("vtest.avi", index, box) for index, box in BACK_VIEWS[:2 if quick else None]]
    names = ("plaza", *(Path(name).stem for name in BACKGROUNDS))
    return Cast(people, cut(backs), cut(PHOTO_PEOPLE), cut(CG_PEOPLE), dict(zip(names, backgrounds(plate))))


def walk(sprite: Sprite, start: tuple[float, float, float], end: tuple[float, float, float], frames: int) -> Walker:
    """A walker going from `start` to `end` over `frames` frames at a constant pace, each (centre x, head y,
    height) in pixels."""
    (x0, top0, h0), (x1, top1, h1) = start, end
    n = max(frames - 1, 1)
    return Walker(sprite, h0, top0, x0, (x1 - x0) / n, (top1 - top0) / n, (h1 - h0) / n)


def walkers(sprites: list[Sprite], paths: list, over: int = FRAMES) -> list[Walker]:
    """One walker per (start, end) of `paths`, reached `over` frames apart (see `walk`), the sprites taken in
    turn. Paces are those of the whole clip (at most about 1.5 body heights a second, at 25 fps, but where
    people run), whatever length is rendered."""
    return [walk(sprites[k % len(sprites)], start, end, over) for k, (start, end) in enumerate(paths)]


def mirrored(sprite: Sprite) -> Sprite:
    """The sprite flipped left to right."""
    return replace(sprite, rgb=sprite.rgb[:, ::-1].copy(), alpha=sprite.alpha[:, ::-1].copy())


# ------------------------------------------------------------------ looks


def cartoon(rgb: np.ndarray, levels: int = 6) -> np.ndarray:
    """A flat-shaded, outlined look of uint8 HxWx3 RGB: edge-preserving smoothing (cv2.stylization), colours
    posterized to `levels` per channel, dark outlines where the grey level has edges; uint8 HxWx3."""
    step = 256.0 / levels
    flat = np.floor(cv2.stylization(rgb, sigma_s=30, sigma_r=0.3) / step) * step + step / 2
    grey = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 5)
    lines = cv2.adaptiveThreshold(grey, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 5)
    return np.clip(flat * lines[..., None], 0, 255).astype(np.uint8)


def toon(sprite: Sprite) -> Sprite:
    """The sprite in the `cartoon` look, its alpha unchanged."""
    rgb = cartoon(np.round(sprite.rgb * 255).astype(np.uint8))
    return replace(sprite, rgb=rgb.astype(np.float32) / 255.0, source=f"{sprite.source}, cartoon")


def grade(frame: np.ndarray, gain: float, gamma: float, tint=(1.0, 1.0, 1.0), vignette: float = 0.0,
          noise: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """A uint8 HxWx3 RGB frame in other light: values x in [0, 1] become gain * tint * x ** gamma, darker
    towards the corners (by the share `vignette` at a corner), plus Gaussian noise of standard deviation
    `noise` per pixel and channel (from `rng`); uint8 HxWx3."""
    h, w = frame.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    radius = np.hypot((xs - w / 2) / (w / 2), (ys - h / 2) / (h / 2)) / np.sqrt(2)
    light = gain * (1 - vignette * radius ** 2)[..., None] * np.asarray(tint, np.float32)
    out = (frame.astype(np.float32) / 255.0) ** gamma * light
    if noise:
        out = out + (rng or np.random.default_rng(0)).normal(0, noise, out.shape)
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


def graded(clip: Clip, seed: int, **light) -> Clip:
    """The clip with every frame `grade`d (noise drawn afresh each frame from `seed`); the truth is unchanged."""
    rng = np.random.default_rng(seed)
    return replace(clip, frames=[grade(frame, rng=rng, **light) for frame in clip.frames])


def street_furniture(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """An opaque pillar (x 300 to 360, the frame's height, shaded round) and a sign post (a pole at x 556 to 568
    from y 150 down, a blue board at 490..634 x 90..190) in front of the scene: rgb float32 HxWx3 and alpha
    float32 HxW in [0, 1], edges softened by half a pixel."""
    h, w = size
    rgb, alpha = np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)
    shade = np.cos(np.linspace(-1.2, 1.2, 60))
    rgb[:, 300:360] = (0.35 + 0.4 * shade)[None, :, None] * np.float32([0.85, 0.82, 0.78])
    alpha[:, 300:360] = 1
    rgb[150:, 556:568], alpha[150:, 556:568] = (0.45, 0.45, 0.47), 1
    rgb[90:190, 490:634], alpha[90:190, 490:634] = (0.95, 0.95, 0.95), 1
    rgb[96:184, 496:628] = (0.1, 0.25, 0.6)
    return rgb, cv2.GaussianBlur(alpha, (0, 0), 0.5)


# ------------------------------------------------------------------ the clips


def backs(c: Cast, frames: int) -> Clip:
    """Five people seen from behind walking away up vtest.avi's plaza, getting smaller as they go (from 150-250
    to 100-150 px tall), two of them overlapping for a while."""
    paths = [((150, 330, 230), (190, 230, 140)), ((330, 360, 210), (300, 250, 130)),
             ((520, 300, 250), (470, 200, 150)), ((640, 250, 170), (600, 180, 110)),
             ((380, 220, 150), (400, 160, 100))]
    shot = render("backs", c.grounds["plaza"], walkers(c.backs, paths), frames, seed=11)
    return Clip.of(shot, "people seen from behind")


def edge(c: Cast, frames: int) -> Clip:
    """People cut by the frame's edges: a near walker coming in at the left, a nearer one (cut by the bottom
    edge too) going out at the left, the footballer sliding in from the left and the man with the ball stepping
    in from the right, taller than the frame (cut at the bottom too); over building.jpg."""
    people = [c.people[0], mirrored(c.people[-1]), c.photos[0], c.photos[1]]
    paths = [((-90, 150, 380), (300, 150, 380)), ((400, 200, 460), (-110, 200, 460)),
             ((-260, 250, 300), (150, 250, 300)), ((930, 60, 600), (620, 60, 600))]
    shot = render("edge", c.grounds["building"], walkers(people, paths), frames, seed=12)
    return Clip.of(shot, "people cut by the frame's edges")


def small(c: Cast, frames: int, people: int = 8) -> Clip:
    """Eight far people 30 to 60 px tall (feet lower the taller they are) walking both ways along leuvenA.jpg's
    street at 0.5 to 1 of their height a second (25 fps), their paths crossing."""
    rng = np.random.default_rng(13)
    paths = []
    for _ in range(people):
        height = rng.uniform(30, 60)
        top = 395 + 2.5 * (height - 30) - height
        x = rng.uniform(120, 650)
        travel = rng.uniform(0.5, 1.0) * height / 25 * FRAMES * rng.choice([-1, 1])
        paths.append(((x - travel / 2, top, height), (x + travel / 2, top, height)))
    shot = render("small", c.grounds["leuvenA"], walkers(c.people + c.backs, paths), frames, seed=13)
    return Clip.of(shot, "small far people (30-60 px)")


def hidden(c: Cast, frames: int) -> Clip:
    """Partly hidden people: four walkers on vtest.avi's plaza pass behind an opaque pillar and a sign post
    (`street_furniture`), and the two nearest cross in front of the two farther ones."""
    paths = [((170, 200, 220), (420, 200, 220)), ((700, 230, 170), (520, 230, 170)),
             ((260, 150, 130), (390, 150, 130)), ((620, 290, 260), (400, 290, 260))]
    shot = render("hidden", c.grounds["plaza"], walkers(c.people, paths), frames, seed=14,
                  foreground=street_furniture(c.grounds["plaza"].shape[:2]))
    return Clip.of(shot, "partly hidden people (pillar, sign, crossings)")


def cg(c: Cast, frames: int) -> Clip:
    """A CG/animated look in low-key light: a CG character of an animated film (a close-up bust cut by the
    bottom edge, drifting left) in front of three vtest.avi people drawn flat-shaded and outlined (`cartoon`)
    walking over a cartoon of building.jpg, all graded dark and warm with a vignette."""
    people = [c.cg[0], *(toon(s) for s in (c.people[0], mirrored(c.people[-1]), c.backs[0]))]
    paths = [((620, 200, 400), (540, 200, 400)), ((-60, 250, 300), (250, 250, 300)),
             ((760, 290, 260), (520, 290, 260)), ((300, 340, 200), (370, 340, 200))]
    shot = render("cg", cartoon(c.grounds["building"]), walkers(people, paths), frames, seed=15)
    return graded(Clip.of(shot, "CG/animated look, low-key light"), 15, gain=0.8, gamma=1.2, tint=(1.0, 0.9, 0.75),
                  vignette=0.6)


def dark(c: Cast, frames: int) -> Clip:
    """Low light: five people crossing leuvenA.jpg's street at night: dark (at most a quarter of full scale,
    shadows crushed by a gamma of 1.6), tinted blue, with sensor noise (standard deviation 3% of full scale)."""
    paths = [((60, 240, 250), (300, 240, 250)), ((760, 280, 290), (480, 280, 290)),
             ((200, 250, 170), (360, 250, 170)), ((600, 300, 200), (420, 300, 200)),
             ((420, 290, 120), (460, 290, 120))]
    shot = render("dark", c.grounds["leuvenA"], walkers(c.people + c.backs, paths), frames, seed=16)
    return graded(Clip.of(shot, "low light (dark, noisy, tinted)"), 16, gain=0.25, gamma=1.6, tint=(0.7, 0.85, 1.2),
                  noise=0.03)


def cut(c: Cast, frames: int) -> Clip:
    """A hard cut half way: three vtest.avi people crossing the plaza, then other people (the footballer, the
    man with the ball and two people seen from behind) in front of graf1.png's graffiti."""
    half = FRAMES // 2
    first = render("cut", c.grounds["plaza"], walkers(c.people, [
        ((150, 200, 220), (260, 200, 220)), ((700, 260, 250), (590, 260, 250)),
        ((400, 150, 150), (450, 150, 150))], half), frames // 2, seed=17)
    second = render("cut", c.grounds["graf1"], walkers(c.photos + c.backs, [
        ((150, 250, 300), (290, 250, 300)), ((650, 80, 480), (580, 80, 480)),
        ((420, 200, 240), (440, 180, 220)), ((250, 180, 180), (200, 170, 170))], half), frames - frames // 2, seed=18)
    return Clip.of(first, "a hard cut to other people and place").then(Clip.of(second, ""))


CLIPS = {"backs": backs, "edge": edge, "small": small, "hidden": hidden, "cg": cg, "dark": dark, "cut": cut}
QUICK = ("hidden", "cut")


def clips(c: Cast, quick: bool) -> list[Clip]:
    """Every clip, FRAMES long (a quick run: the QUICK ones, their first QUICK_FRAMES frames, or as many from
    each side of a cut)."""
    frames = QUICK_FRAMES if quick else FRAMES
    return [CLIPS[name](c, frames) for name in (QUICK if quick else CLIPS)]


def write(clip: Clip, folder: Path) -> str:
    """Write the clip's frames as `folder`/frame_0000.png, ... (emptying the folder first); returns the image
    sequence's path as the engine reads it (`#` for the digits of the frame number)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for f, frame in enumerate(clip.frames):
        cv2.imwrite(str(folder / f"frame_{f:04d}.png"), np.ascontiguousarray(frame[:, :, ::-1]),
                    [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return str(folder / "frame_####.png")
