"""The synthetic video world: procedurally rendered scenes whose truth is known at every frame.

    from videothought.evals.world import generate_world, load_world, sample_spec, render_video

    generate_world("out/world", num_videos=20, seed=0)       # videos, qa.csv, evidence, STSGs, captions
    videos = load_world("out/world")                          # list[WorldVideo]

    spec = sample_spec(np.random.default_rng(0), seconds=3)   # a scene, in memory
    frames, truth = render_video(spec)                        # (T, H, W, 3) uint8, GroundTruth
    truth.regions(0)                                          # boxes with "red circle" labels
    truth.stsg_document()                                     # the graph/schema.py document

See dataset.py for the files on disk, questions.py for the question types and
oracle.py for the answerers that check them.
"""

from .config import COLOUR_NAMES, OBJECT_COLOURS, SHAPES, SIZES, WorldParams
from .dataset import GENERATOR_VERSION, WorldFormatError, WorldVideo, generate_world, iter_world, load_world
from .questions import Question
from .render import SceneRenderer, render_video
from .simulate import SceneSpec, sample_spec, simulate
from .truth import GroundTruth

__all__ = [
    "COLOUR_NAMES", "OBJECT_COLOURS", "SHAPES", "SIZES", "WorldParams", "GENERATOR_VERSION", "WorldFormatError",
    "WorldVideo", "generate_world", "iter_world", "load_world", "Question", "SceneRenderer", "render_video", "SceneSpec",
    "sample_spec", "simulate", "GroundTruth",
]
