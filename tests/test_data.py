"""The loaders' view of both corpora: how sure the label model is of each drawn label
(course_utils.data.label_confidence)."""

from __future__ import annotations

import pytest

from course_utils import climate, data
from course_utils import reviews as review_grammar  # `reviews` names a dataset below
from course_utils.data import load_reviews


def test_label_confidence_is_the_label_models_probability_of_each_drawn_label():
    reviews = load_reviews(200, seed=4, split="test", source="generated")
    examples = review_grammar.review_examples(200, 4)
    held_out = [examples[i] for i in range(200) if i % 5 == 4]
    confidence = data.label_confidence(200, seed=4, split="test")
    assert [e.text for e in held_out] == reviews["text"]
    assert confidence == [e.probabilities()[e.label] for e in held_out]
    assert min(confidence) < 0.5 < 0.8 < max(confidence)  # some drawn labels go against their text
    posts = data.label_confidence(100, seed=2, corpus="climate")
    assert posts == [e.probabilities()[e.label] for e in climate.climate_examples(100, 2)]
    with pytest.raises(ValueError, match="'reviews' or 'climate'"):
        data.label_confidence(10, corpus="imdb")
