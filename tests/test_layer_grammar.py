"""The layer grammar (nablanet/layers/grammar.py): ``conv20x5,maxpool2,100`` and its
refusals, shared by ConvNetClassifier's ``layers`` and ``nablanet train --layers``."""

import pytest

from nablanet.layers import Conv2D, Dense, MaxPool2D, MeanPool2D
from nablanet.layers.grammar import is_spatial, parse_layer, parse_layers


def test_each_form_and_its_options():
    conv, pool, conv2, mean, dense = parse_layers(
        "conv20x5,maxpool2,conv40x5x3:same:stride2:tanh,meanpool2x3,100:sigmoid")
    assert isinstance(conv, Conv2D) and conv.to_spec() == {
        "kind": "Conv2D", "filters": 20, "kernel_size": [5, 5], "stride": [1, 1],
        "padding": "valid", "activation": "relu", "init": "auto"}
    assert conv2.to_spec() == {
        "kind": "Conv2D", "filters": 40, "kernel_size": [5, 3], "stride": [2, 2],
        "padding": "same", "activation": "tanh", "init": "auto"}
    assert isinstance(pool, MaxPool2D) and pool.size == (2, 2)
    assert isinstance(mean, MeanPool2D) and mean.size == (2, 3)
    assert isinstance(dense, Dense) and dense.units == 100
    assert dense.activation.name == "sigmoid"


def test_the_default_activation_and_words_are_case_blind():
    conv, dense = parse_layers(["CONV3x3", " 10 "], activation="tanh")
    assert conv.activation.name == dense.activation.name == "tanh"
    assert parse_layer("conv2x3:logistic").activation.name == "sigmoid"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("conv20", r"layer 1 \('conv20'\) is not a layer: a convolution is "
                   r"conv<filters>x<size>, e.g. conv20x5"),
        ("10,maxpool", r"layer 2 \('maxpool'\) is not a layer: a pooling layer is "
                       r"maxpool<size> or meanpool<size>"),
        ("dense10", r"layer 1 \('dense10'\) is not a layer: give one of: <units>"),
        ("conv0x5", r"layer 1 \('conv0x5'\): the filters must be at least 1, got 0"),
        ("conv2x0", r"the kernel size must be at least 1, got 0"),
        ("maxpool0", r"the pool size must be at least 1, got 0"),
        ("0", r"the units must be at least 1, got 0"),
        ("conv2x3:stride0", r"the stride must be at least 1, got 0"),
        ("10,,5", r"layer 2 \(''\) is empty"),
        ("100:bar", r"layer 1 \('100:bar'\): unknown activation 'bar'; valid: "),
        ("conv2x3:sigmoid:tanh", r"one activation per layer, got 'sigmoid', 'tanh'"),
        ("maxpool2:relu", r"a pooling layer takes no options .*got 'relu'"),
        ("10:", r"an empty option after ':'"),
    ],
)
def test_refusals_name_the_word_its_place_and_what_was_expected(text, match):
    with pytest.raises(ValueError, match=match):
        parse_layers(text)


def test_layers_and_specs_are_copied_through_the_registry():
    conv = Conv2D(3, 2)
    copy, = parse_layers([conv])
    assert copy is not conv and copy.to_spec() == conv.to_spec()
    spec, = parse_layers([{"kind": "MaxPool2D", "size": [2, 2]}])
    assert isinstance(spec, MaxPool2D)
    with pytest.raises(ValueError, match=r"layer 1: unknown layer kind 'Lambda'"):
        parse_layers([{"kind": "Lambda", "code": "..."}])
    with pytest.raises(ValueError, match=r"layer 2 must be a word such as 'conv20x5'"):
        parse_layers(["10", 20])
    with pytest.raises(ValueError, match="layers is empty"):
        parse_layers([])


def test_is_spatial():
    assert is_spatial(parse_layers("conv2x2,10")) and is_spatial(parse_layers("meanpool2"))
    assert not is_spatial(parse_layers("10,5"))
