"""The whole §4 protocol on a 7-user file whose every number is worked out by hand below.

After dropping the self-loops (3 3, 2 2) 11 rows remain; sorted by time (stable):
    100 1-2, 110 2-3, 120 1-3, 130 3-4, 140 4-5, 150 2-1, 160 5-6, 170 6-7 | 180 4-2, 190 1-5, 200 7-1
Train = first int(11*0.8) = 8 rows. Train users, numbered by first appearance among the train rows in
file order: 1..7 -> index 0..6. Train pairs (7): 1-2 2-3 1-3 3-4 4-5 5-6 6-7.
Neighbours: N1={2,3} N2={1,3} N3={1,2,4} N4={3,5} N5={4,6} N6={5,7} N7={6}
Degrees: 1:2 2:2 3:3 4:2 5:2 6:2 7:1.
Test pairs 4-2, 1-5, 7-1 are all new -> truth 1:{5,7} 2:{4} 4:{2} 5:{1} 7:{1}; 5 query users, 6 truth pairs.

Tie order (degree desc, then index desc): 3, 6, 5, 4, 2, 1, 7.

popularity (= degree) ranks candidates in tie order, minus self and neighbours:
    u=1: [6,5,4,7]  truth {5,7}: @1 0/2; @2 hit at rank 2 -> recall 1/2, ndcg (1/lg3)/(1+1/lg3)
    u=2: [6,5,4,7]  truth {4}:   no hit in top 2
    u=4: [6,2,1,7]  truth {2}:   @2 hit at rank 2 -> recall 1, ndcg 1/lg3
    u=5: [3,2,1,7]  truth {1}:   no hit in top 2
    u=7: [3,5,4,2,1] truth {1}:  no hit in top 2
  recall@1 = ndcg@1 = 0; recall@2 = (1/2 + 1)/5 = 0.3; ndcg@2 = ((1/lg3)/(1+1/lg3) + 1/lg3)/5

cn (common neighbours), ties in tie order:
    u=1: cn(4)=1 ({3}), 5,6,7: 0        -> [4,6,5,7]   truth {5,7}: no hit in top 2
    u=2: cn(4)=1 ({3}), 5,6,7: 0        -> [4,6,5,7]   truth {4}: hit at rank 1
    u=4: cn(1)=cn(2)=cn(6)=1, cn(7)=0   -> [6,2,1,7]   truth {2}: hit at rank 2
    u=5: cn(3)=cn(7)=1, cn(1)=cn(2)=0   -> [3,7,2,1]   truth {1}: no hit in top 2
    u=7: cn(5)=1, others 0              -> [5,3,4,2,1] truth {1}: no hit in top 2
  recall@1 = ndcg@1 = 1/5; recall@2 = (1 + 1)/5 = 0.4; ndcg@2 = (1 + 1/lg3)/5

recent: train times span 100..170, window ts >= 170 - 7 = 163: only row 6-7 -> 6:1, 7:1, others 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pymk.evaluation.baselines import CommonNeighbours, Popularity, Recent
from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.metrics import Ranker
from pymk.evaluation.protocol import Split
from pymk.evaluation.runner import evaluate

pytestmark = pytest.mark.unit

LG3 = 1 / math.log2(3)  # discount of rank 2


def idx(split: Split, *users: int) -> list[int]:
    return [split.user_ids.index(str(u)) for u in users]


def test_split_counts_pairs_and_truth(handmade: Split) -> None:
    assert handmade.user_ids == ["1", "2", "3", "4", "5", "6", "7"]
    assert handmade.n_users == 7
    pairs = sorted(zip(handmade.pair_u.tolist(), handmade.pair_v.tolist(), strict=True))
    assert pairs == [(0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    assert handmade.query_users.tolist() == idx(handmade, 1, 2, 4, 5, 7)
    assert handmade.truth(0).tolist() == idx(handmade, 5, 7)
    assert handmade.truth(1).tolist() == idx(handmade, 4)
    assert handmade.truth(6).tolist() == idx(handmade, 1)
    assert handmade.truth_pairs == 6


def test_tie_order_is_degree_then_higher_index(handmade: Split) -> None:
    rank = TrainGraph.from_split(handmade).tie_rank()
    assert np.argsort(rank).tolist() == idx(handmade, 3, 6, 5, 4, 2, 1, 7)


def test_rankings_match_the_hand_derivation(handmade: Split) -> None:
    ranker = Ranker(TrainGraph.from_split(handmade))
    users = handmade.query_users
    expected = {
        "popularity": [[6, 5, 4, 7], [6, 5, 4, 7], [6, 2, 1, 7], [3, 2, 1, 7], [3, 5, 4, 2]],
        "cn": [[4, 6, 5, 7], [4, 6, 5, 7], [6, 2, 1, 7], [3, 7, 2, 1], [5, 3, 4, 2]],
    }
    for name, model in (("popularity", Popularity()), ("cn", CommonNeighbours())):
        model.fit(handmade)
        scores = model.score(users)
        ranker.mask(users, scores)
        top = ranker.top_k(scores, 4)
        assert [[int(handmade.user_ids[j]) for j in row] for row in top] == expected[name], name


def test_recall_and_ndcg_match_the_hand_derivation(handmade: Split) -> None:
    result = evaluate(handmade, {"popularity": Popularity(), "cn": CommonNeighbours()}, [1, 2])
    pop, cn = result["models"]["popularity"], result["models"]["cn"]
    assert pop["recall@1"] == 0.0 and pop["ndcg@1"] == 0.0
    assert pop["recall@2"] == pytest.approx(0.3, abs=1e-12)
    assert pop["ndcg@2"] == pytest.approx((LG3 / (1 + LG3) + LG3) / 5, abs=1e-12)
    assert cn["recall@1"] == pytest.approx(0.2, abs=1e-12)
    assert cn["ndcg@1"] == pytest.approx(0.2, abs=1e-12)
    assert cn["recall@2"] == pytest.approx(0.4, abs=1e-12)
    assert cn["ndcg@2"] == pytest.approx((1 + LG3) / 5, abs=1e-12)


def test_recent_counts_rows_in_the_last_tenth_of_the_train_span(handmade: Split) -> None:
    model = Recent()
    model.fit(handmade)
    expected = np.zeros(7, dtype=np.float32)
    expected[idx(handmade, 6, 7)] = 1.0
    np.testing.assert_array_equal(model.score(np.array([0], dtype=np.int32))[0], expected)
