"""What the full-scale pipelines of the 3D chapters need before they start: a CUDA GPU and the Hugging Face hub (chapters 05-07)."""

from __future__ import annotations

import torch


def require_gpu_and_hub(paper: str, gpu_need: str, repo_ids: tuple[str, ...]) -> None:
    """Stop with a clear message unless a CUDA GPU is visible and the hub serves every repository in ``repo_ids``.

    ``paper`` names the pipeline in the message, ``gpu_need`` says what needs the GPU."""
    if not torch.cuda.is_available():
        raise RuntimeError(f"{paper} at full scale needs a CUDA GPU ({gpu_need}) and none is visible; "
                           "run the reduced scale here (unset COURSE_SCALE).")
    try:
        from huggingface_hub import model_info

        for repo in repo_ids:
            model_info(repo, timeout=10)
    except Exception as error:  # offline, a proxy, a missing repository: all mean "cannot download"
        raise RuntimeError(f"{paper} at full scale downloads {', '.join(repo_ids)} from the Hugging Face hub, which cannot be "
                           f"reached from here ({type(error).__name__}). Connect to the internet (or pre-fill the hub cache) and retry.") from error
