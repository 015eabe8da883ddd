"""The seed library's documented examples, with only the package name changed.

Each example is copied from the seed's README or docs (``deepstruct`` ->
``workbench``); where the original is incomplete (a comment standing for
code, a syntax error) the smallest completion is marked in a comment.
"""

import networkx as nx
import numpy as np
import torch


def test_readme_ffn_for_mnist():
    import workbench.sparse

    mnist_model = workbench.sparse.MaskedDeepFFN((1, 28, 28), 10, [100, 100])
    assert mnist_model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_readme_dan_prune_and_rebuild():
    import workbench.sparse

    structure = workbench.sparse.CachedLayeredGraph()
    # .. add nodes & edges to the networkx graph structure
    structure.add_edges_from([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)])  # completion of the comment above

    # Build a neural network classifier with 784 input and 10 output neurons and the given structure
    model = workbench.sparse.MaskedDeepDAN(784, 10, structure)
    model.apply_mask()  # Apply the mask on the weights (hard, not undoable)
    model.recompute_mask()  # Use weight magnitude to recompute the mask from the network
    pruned_structure = model.generate_structure()  # Get the structure -- a networkx graph -- based on the current mask

    new_model = workbench.sparse.MaskedDeepDAN(784, 10, pruned_structure)
    assert set(pruned_structure.nodes) == set(structure.nodes)
    assert new_model(torch.randn(2, 784)).shape == (2, 10)


def test_readme_ffn_structure():
    import workbench.sparse

    model = workbench.sparse.MaskedDeepFFN(784, 10, [100, 100])
    # .. train model
    graph = model.generate_structure()  # a networkx graph
    assert graph.number_of_edges() == 100 * 100


def test_docs_prune_ten_percent():
    import workbench.sparse
    from workbench.pruning import PruningStrategy, prune_network_by_saliency

    input_size = 784
    output_size = 10
    model = workbench.sparse.MaskedDeepFFN(input_size, output_size, [200, 100])

    # Prune 10% of the model based on its absolute weights
    prune_network_by_saliency(model, 10, strategy=PruningStrategy.PERCENTAGE)
    total = 784 * 200 + 200 * 100 + 100 * 10
    assert sum(int(m.mask.sum()) for m in workbench.sparse.maskable_layers(model)) == total - round(0.1 * total)


def test_docs_masked_linear_layer():
    from workbench.sparse import MaskedLinearLayer

    layer = MaskedLinearLayer(784, 100)
    layer.mask = torch.zeros(100, 784)  # zeros out all connections
    layer.mask = torch.ones(100, 784)  # activate all connections between input and output
    assert layer.mask.all()
    learnable = MaskedLinearLayer(784, 100, mask_as_params=True)
    assert learnable.mask.all()


def test_docs_structures_from_generators_and_extraction():
    import workbench.graph as dsg
    import workbench.sparse

    # Create a graph with networkx
    graph_btree = nx.balanced_tree(r=2, h=3)
    graph_grid = nx.grid_2d_graph(3, 30, periodic=False)
    graph_smallworld = nx.watts_strogatz_graph(100, 3, 0.8)

    ds_graph_btree = dsg.LayeredGraph.load_from(graph_btree)
    ds_graph_grid = dsg.LayeredGraph.load_from(graph_grid)
    ds_graph_smallworld = dsg.LayeredGraph.load_from(graph_smallworld)

    # Define a model based on the structure
    input_shape = (5, 5)
    output_size = 2
    model = workbench.sparse.MaskedDeepDAN(input_shape, output_size, ds_graph_btree)
    assert model(torch.randn(3, 5, 5)).shape == (3, 2)
    for structure in (ds_graph_grid, ds_graph_smallworld):
        assert workbench.sparse.MaskedDeepDAN(input_shape, output_size, structure)(torch.randn(5, 5)).shape == (2,)

    import workbench.transform as dtr

    functor = dtr.GraphTransform(torch.randn((1,) + input_shape))
    graph = functor.transform(model)
    # 25 inputs + 15 tree neurons + 2 outputs; every input feeds every source, every sink every output
    sources = sum(1 for _, d in model.structure.in_degree() if d == 0)
    sinks = sum(1 for _, d in model.structure.out_degree() if d == 0)
    assert graph.number_of_nodes() == 25 + 15 + 2
    assert graph.number_of_edges() == 25 * sources + 14 + sinks * 2


def test_docs_training_with_random_btrees():
    import workbench.graph as dsg
    import workbench.sparse

    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")

    # Arrange
    batch_size = 10
    input_size = 784
    output_size = 10

    graph_btree = nx.balanced_tree(r=2, h=3)
    ds_graph_btree = dsg.LayeredGraph.load_from(graph_btree)
    model = workbench.sparse.MaskedDeepDAN(input_size, output_size, ds_graph_btree).to(device)

    # Prepare training
    optimizer = torch.optim.Adam(model.parameters())
    criterion = torch.nn.CrossEntropyLoss()

    # Here you could put your for-loop over a dataloader
    for _epoch_current in range(10):
        # the original lacks closing parentheses and passes float64 inputs; closed here, dtype made float32
        random_input = torch.tensor(
            np.random.random((batch_size, input_size)), device=device, requires_grad=False, dtype=torch.float32
        )
        random_target = torch.tensor(np.random.randint(0, 2, batch_size), device=device, requires_grad=False)

        prediction = model(random_input)
        loss = criterion(prediction, random_target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.isfinite(loss)
