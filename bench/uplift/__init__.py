"""The uplift sweep: arms x prompts x seeds, every sample judged by every scorer and the world's own judges.

`WORLDS` maps a world's name to the function that describes it (`toyworld.world.World`).
"""
from toyworld.world import toy_world


def check_world(name: str | None) -> None:
    if name is not None and name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; valid: {', '.join(WORLDS)}")


WORLDS = {"toy": toy_world}
