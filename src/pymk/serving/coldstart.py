"""Cold start for users first met in the event stream: known to the server, unknown to every model.

DESIGN §5 asks for "a sensible list" for cold-start users. A user the model was trained with and that
has no connection gets the model's own cold-start answer (:class:`~pymk.serving.model.ModelRecommender`:
the most recently active users). A user who signed up (or first acted) after training has no index in
any model; once the server has seen it in the online store's delta log (:class:`DeltaFollower.knows
<pymk.serving.follow.DeltaFollower.knows>`) it gets the same list, from the model its A/B arm routes it
to, with ``source: realtime`` — the service then drops itself and whom it connected to or blocked.
A user nobody has seen stays a 404, so a typo in an id is not answered with a plausible list.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pymk.serving.lifecycle import ModelSlot
from pymk.serving.lists import StoredList
from pymk.serving.model import ModelRecommender
from pymk.serving.service import ColdStart, realtime_lists


def popular_for_known(slot: ModelSlot, knows: Callable[[str], bool]) -> ColdStart:
    """A :data:`~pymk.serving.service.ColdStart`: for users ``knows`` accepts, the routed model's
    :meth:`~pymk.serving.model.ModelRecommender.popular` list; None for anyone else or without a model."""

    def cold_start(user_id: str, k: int) -> StoredList | None:
        if not knows(user_id):
            return None
        model = slot.routing.model_for(user_id)
        if model is None or not isinstance(model.recommender, ModelRecommender):
            return None
        return realtime_lists(model, model.recommender.popular(k), time.time())[0]

    return cold_start
