"""Regenerate the sample models in sample_models/ (deterministic: seeded, one CPU thread).

Usage:
    python scripts/make_samples.py [--out sample_models] [--only NAME ...]

Each sample is ``<name>.graphml`` (structure), ``<name>.pt`` (checkpoint) and
``<name>.json`` (metadata); see sample_models/README.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import dataclasses
import json
import random
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import networkx as nx
import torch
from torch import nn

from workbench import graph as wbg
from workbench.io import save_checkpoint, save_graph
from workbench.pruning import current_masks, densities, prune_network_by_saliency
from workbench.samples import save_conv_sample
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN
from workbench.training import TrainConfig, evaluate, load_dataset, train
from workbench.transform import GraphTransform
from workbench.transform.samples import CONV_SAMPLES

ROOT = Path(__file__).resolve().parent.parent


def shuffled_watts_strogatz(n: int, k: int, p: float, seed: int) -> nx.DiGraph:
    """A Watts–Strogatz graph oriented along a random vertex order (many sources and sinks).

    Breadth-first orientation of a connected graph has a single source, which
    would squeeze every input through one neuron; orienting every edge from the
    earlier to the later vertex of a random order gives about ``n / (k + 1)``
    sources instead.
    """
    ws = nx.watts_strogatz_graph(n, k, p, seed=seed)
    order = list(ws.nodes)
    random.Random(seed).shuffle(order)
    shuffled = nx.Graph()
    shuffled.add_nodes_from(order)
    shuffled.add_edges_from(ws.edges)
    dag = wbg.orient(shuffled, "index")
    dag.graph["name"] = f"watts_strogatz({n}, {k}, {p}, seed={seed}), random-order orientation"
    return dag


def skip_dag(width: int = 4, depth: int = 4) -> nx.DiGraph:
    """Layers of ``width`` neurons ``(layer, i)``; consecutive layers fully connected,
    plus skips from every layer to the one two ahead (neuron i to neuron i) and
    from the first layer to the last."""
    dag = nx.DiGraph(name=f"skip_dag(width={width}, depth={depth})")
    for layer in range(depth):
        dag.add_nodes_from(((layer, i), {"layer": layer}) for i in range(width))
    for layer in range(depth - 1):
        dag.add_edges_from(((layer, i), (layer + 1, j), {"kind": "dense"}) for i in range(width) for j in range(width))
    for layer in range(depth - 2):
        dag.add_edges_from(((layer, i), (layer + 2, i), {"kind": "skip"}) for i in range(width))
    dag.add_edges_from(((0, i), (depth - 1, i), {"kind": "long skip"}) for i in range(width))
    return dag


@dataclass
class Recipe:
    name: str
    description: str
    dataset: str
    build: Callable[[int], nn.Module]
    config: TrainConfig
    seed: int = 0
    dataset_args: dict = field(default_factory=lambda: {"test_fraction": 0.25, "seed": 0})
    prune_percent: float | None = None  # prune after training, then fine-tune
    fine_tune_epochs: int = 0


RECIPES = [
    Recipe(
        "moons_dan",
        "A MaskedDeepDAN on the app's default design, a 30-vertex Watts–Strogatz graph (k=4, p=0.2, seed 0, "
        "randomly oriented), with leaky ReLU, trained on the two moons with the app's default settings. "
        "The app opens on it.",
        "moons",
        lambda n_in: MaskedDeepDAN(n_in, 2, wbg.watts_strogatz(30, 4, 0.2, seed=0), activation=nn.LeakyReLU),
        TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=20, device="cpu"),
    ),
    Recipe(
        "digits_mlp",
        "A multilayer perceptron 64 -> [32, 16] -> 10 (MaskedDeepFFN) trained on the 8x8 digits. "
        "The graph holds its hidden neurons and their connections.",
        "digits",
        lambda n_in: MaskedDeepFFN(n_in, 10, [32, 16]),
        TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=20, device="cpu"),
    ),
    Recipe(
        "digits_mlp_pruned",
        "The digits perceptron 64 -> [32, 16] -> 10 with 80% of its weights pruned by magnitude "
        "(global ranking) and fine-tuned for 5 epochs.",
        "digits",
        lambda n_in: MaskedDeepFFN(n_in, 10, [32, 16]),
        TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=20, device="cpu"),
        prune_percent=80.0,
        fine_tune_epochs=5,
    ),
    Recipe(
        "watts_strogatz_dan",
        "A MaskedDeepDAN on a 60-vertex Watts–Strogatz small-world graph (k=4, p=0.3), oriented along "
        "a random vertex order, trained on the 8x8 digits.",
        "digits",
        lambda n_in: MaskedDeepDAN(n_in, 10, shuffled_watts_strogatz(60, 4, 0.3, seed=0)),
        TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=20, device="cpu"),
    ),
    Recipe(
        "skip_dag",
        "A MaskedDeepDAN on 4 layers of 4 neurons with skip connections two layers ahead and from the first "
        "layer to the last, trained on the two moons.",
        "moons",
        lambda n_in: MaskedDeepDAN(n_in, 2, skip_dag(), activation=nn.Tanh),
        TrainConfig(optimizer="adam", lr=0.02, batch_size=32, epochs=60, device="cpu"),
    ),
]


@dataclass
class ConvRecipe:
    """A convolutional sample: ``CONV_SAMPLES[name]`` trained on a dataset reshaped to images."""

    name: str
    description: str
    dataset: str
    input_shape: tuple[int, ...]
    config: TrainConfig
    seed: int = 0
    dataset_args: dict = field(default_factory=lambda: {"test_fraction": 0.25, "seed": 0})


CONV_RECIPES = [
    ConvRecipe(
        "small_cnn",
        "A small CNN (two conv blocks, the second grouped, max pooling, a linear classifier) trained on the "
        "8x8 digits as 1x8x8 images. No graph to design or train: the Inspect panel shows it at neuron, channel "
        "or module level; the graph file holds its channel-level graph.",
        "digits",
        (1, 8, 8),
        TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=15, device="cpu"),
    ),
]


def make_conv(recipe: ConvRecipe, out: Path) -> dict:
    torch.manual_seed(recipe.seed)
    flat = load_dataset(recipe.dataset, **recipe.dataset_args)
    shape = recipe.input_shape
    data = dataclasses.replace(
        flat, x_train=flat.x_train.reshape(-1, *shape), x_test=flat.x_test.reshape(-1, *shape), input_shape=shape
    )
    model = CONV_SAMPLES[recipe.name][0]()
    train(model, data, recipe.config)
    model.eval()
    loss, acc = evaluate(model, data.x_test, data.y_test)
    graph = GraphTransform(torch.zeros(1, *shape), granularity="channel").transform(model)
    graph = nx.DiGraph(graph.edges)  # the structure only (edge weights change with training)
    metadata = {
        "name": recipe.name,
        "kind": "conv",
        "description": recipe.description,
        "model": recipe.name,
        "input_shape": list(shape),
        "dataset": recipe.dataset,
        "dataset_args": recipe.dataset_args,
        "test_accuracy": acc,
        "test_loss": loss,
        "n_test": data.n_test,
        "train_config": asdict(recipe.config),
        "parameters": sum(p.numel() for p in model.parameters()),
        "graph_file": f"{recipe.name}.graphml",
        "graph_granularity": "channel",
        "graph_nodes": graph.number_of_nodes(),
        "graph_edges": graph.number_of_edges(),
        "seed": recipe.seed,
    }
    save_graph(graph, out / f"{recipe.name}.graphml")
    save_conv_sample(model, recipe.name, out / f"{recipe.name}.pt", input_shape=shape, extra=metadata)
    (out / f"{recipe.name}.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return metadata


def make(recipe: Recipe, out: Path) -> dict:
    torch.manual_seed(recipe.seed)
    data = load_dataset(recipe.dataset, **recipe.dataset_args)
    model = recipe.build(data.n_features)
    history = train(model, data, recipe.config)
    if recipe.prune_percent is not None:
        prune_network_by_saliency(model, recipe.prune_percent)
        last = history[-1]["epoch"]
        history += [
            {**r, "epoch": r["epoch"] + last} for r in train(model, data, recipe.config, epochs=recipe.fine_tune_epochs)
        ]
    model.eval()
    loss, acc = evaluate(model, data.x_test, data.y_test)
    masks = current_masks(model)
    kept = sum(d.kept for d in densities(masks))
    total = sum(d.total for d in densities(masks))
    graph = model.structure if isinstance(model, MaskedDeepDAN) else model.generate_structure()
    metadata = {
        "name": recipe.name,
        "description": recipe.description,
        "model": type(model).__name__,
        "dataset": recipe.dataset,
        "dataset_args": recipe.dataset_args,
        "test_accuracy": acc,
        "test_loss": loss,
        "n_test": data.n_test,
        "train_config": asdict(recipe.config),
        "pruned_percent": recipe.prune_percent,
        "fine_tune_epochs": recipe.fine_tune_epochs,
        "connections_kept": kept,
        "connections_designed": total,
        "graph_file": f"{recipe.name}.graphml",
        "graph_nodes": graph.number_of_nodes(),
        "graph_edges": graph.number_of_edges(),
        "seed": recipe.seed,
        "history": [{k: round(v, 6) if isinstance(v, float) else v for k, v in r.items()} for r in history],
    }
    save_graph(graph, out / f"{recipe.name}.graphml")
    save_checkpoint(model, out / f"{recipe.name}.pt", extra=metadata)
    (out / f"{recipe.name}.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "sample_models", help="output directory")
    parser.add_argument("--only", nargs="*", default=None, help="names of the samples to make")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    known = {r.name for r in RECIPES + CONV_RECIPES}
    unknown = set(args.only or []) - known
    if unknown:
        parser.error(f"unknown samples {sorted(unknown)}; known: {sorted(known)}")
    for recipe in RECIPES:
        if args.only and recipe.name not in args.only:
            continue
        meta = make(recipe, args.out)
        print(f"{recipe.name}: test accuracy {meta['test_accuracy']:.4f}, {meta['connections_kept']} connections")
    for recipe in CONV_RECIPES:
        if args.only and recipe.name not in args.only:
            continue
        meta = make_conv(recipe, args.out)
        print(f"{recipe.name}: test accuracy {meta['test_accuracy']:.4f}, {meta['parameters']} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
