"""Chapter 03's shipped Table 17 runs (ch03_table17_runs): complete, trained by the chapter's recipe, and scoring what they record."""

import pytest
import torch

from course_lib import assets
from course_lib.config import chapter_values
from course_lib.vision import VisionTransformer, evaluate, llamafication_steps, load_digits_dataset, step_config
from course_lib.vision.table17_runs import ASSET, base_config, recipe_for, run_weights

VALUES = chapter_values("03", "reduced")


@pytest.fixture(scope="module")
def shipped():
    return assets.load(ASSET), assets.read_metadata(assets.path(ASSET))


def test_every_row_and_seed_is_shipped_with_the_chapter_recipe(shipped):
    tensors, header = shipped
    steps = llamafication_steps()
    assert header["epochs"] == VALUES["epochs"]
    assert set(header["runs"]) == {f"{row}/{seed}" for row in range(len(steps)) for seed in VALUES["seeds"]}
    for row, step in enumerate(steps):
        for seed in VALUES["seeds"]:
            run = header["runs"][f"{row}/{seed}"]
            assert (run["row"], run["seed"], len(run["losses"])) == (step.name, seed, VALUES["epochs"])
            expected = VisionTransformer(step_config(base_config(), step)).state_dict()
            weights = run_weights(tensors, row, seed)
            assert {k: v.shape for k, v in weights.items()} == {k: v.shape for k, v in expected.items()}
    with pytest.raises(KeyError, match="rebuild it"):
        run_weights(tensors, len(steps), 0)


def test_recipe_adds_augmentation_and_soft_mask_only_in_their_rows():
    for step in llamafication_steps():
        recipe = recipe_for(step)
        assert (recipe.mixup_alpha > 0) == (recipe.cutmix_alpha > 0) == step.augment
        assert (recipe.soft_mask_schedule is not None) == step.soft_mask
        assert (recipe.epochs, recipe.batch_size, recipe.lr) == (VALUES["epochs"], VALUES["batch_size"], VALUES["lr"])


def test_shipped_weights_score_what_the_record_says(shipped):
    # the notebook scores these weights with the learner's functions; with course_lib's they must give the
    # recorded scores exactly (scoring, unlike training, does not depend on the kind of CPU)
    tensors, header = shipped
    data = load_digits_dataset(validation_fraction=VALUES["validation_fraction"])
    torch.set_num_threads(1)
    for row, step in enumerate(llamafication_steps()):
        for seed in VALUES["seeds"]:
            model = VisionTransformer(step_config(base_config(), step))
            model.load_state_dict(run_weights(tensors, row, seed))
            run = header["runs"][f"{row}/{seed}"]
            (val_acc, val_loss), (test_acc, test_loss) = evaluate(model, data.validation), evaluate(model, data.test)
            assert (val_acc, test_acc) == (run["validation_accuracy"], run["test_accuracy"]), (step.name, seed)
            assert val_loss == pytest.approx(run["validation_loss"], abs=1e-5) and test_loss == pytest.approx(run["test_loss"], abs=1e-5)
