"""A programme end to end through a client generated from openapi/openapi.json (openapi-python-client), checked by
CI with `mypy --strict` and no cast: participants, a programme, enrolments, a pair and both agreements, a session, a
survey answer, the metrics, the event log narrowed by type, a plugin upload.

    openapi-python-client generate --path ../../openapi/openapi.json --output-path upward_client --meta none
    mypy --strict walkthrough.py
"""

from __future__ import annotations

import datetime
import io
import os
from typing import TypeVar
from uuid import UUID

from upward_client import AuthenticatedClient, Client
from upward_client.api.authentication import issue_token, mint_participant_token
from upward_client.api.enrolments import create_enrolment
from upward_client.api.events import list_events
from upward_client.api.pairs import propose_pair, record_agreement
from upward_client.api.participants import create_participant
from upward_client.api.plugins import upload_plugin
from upward_client.api.programmes import create_programme, get_programme_metrics, transition_programme
from upward_client.api.sessions import schedule_session
from upward_client.api.surveys import create_survey, list_survey_requests, submit_survey_response
from upward_client.models import (
    AnswerInput,
    Audience,
    CreateEnrolment,
    CreateParticipant,
    CreateProgramme,
    CreateSurvey,
    EnrolmentRole,
    Manifest,
    Milestone,
    Mode,
    OAuthError,
    PairActivatedEvent,
    PluginUploadForm,
    Problem,
    ProgrammeState,
    ProgrammeTransition,
    ProposePair,
    Question,
    QuestionKind,
    RequestState,
    ScheduleSession,
    SubmitResponse,
    TokenRequest,
)
from upward_client.types import File

T = TypeVar("T")
BASE_URL = os.environ.get("UPWARD_URL", "http://127.0.0.1:8080")


def ok(result: T | Problem | OAuthError | None) -> T:
    """The answer, or the problem document (RFC 9457) as an exception."""
    if result is None or isinstance(result, (Problem, OAuthError)):
        raise RuntimeError(result.to_dict() if result is not None else "the server did not answer")
    return result


def walkthrough(client_id: str, client_secret: str, component: bytes) -> None:
    anonymous = Client(base_url=BASE_URL)
    token = ok(
        issue_token.sync(
            client=anonymous,
            body=TokenRequest(grant_type="client_credentials", client_id=client_id, client_secret=client_secret),
        )
    )
    admin = AuthenticatedClient(base_url=BASE_URL, token=token.access_token)

    grace = ok(
        create_participant.sync(
            client=admin,
            body=CreateParticipant(email="grace@acme.example", display_name="Grace Hopper", level=9, department="Operations"),
        )
    )
    ada = ok(
        create_participant.sync(
            client=admin,
            body=CreateParticipant(email="ada@acme.example", display_name="Ada Lovelace", level=2, department="Engineering"),
        )
    )

    programme = ok(
        create_programme.sync(
            client=admin,
            body=CreateProgramme(
                name="Digital fluency",
                topics=["AI tools"],
                starts_on=datetime.date(2027, 1, 11),
                ends_on=datetime.date(2027, 6, 30),
            ),
        )
    )
    ok(transition_programme.sync(programme.id, client=admin, body=ProgrammeTransition(to=ProgrammeState.ENROLLING)))

    def client_for(participant_id: UUID) -> AuthenticatedClient:
        issued = ok(mint_participant_token.sync(participant_id, client=admin))
        return AuthenticatedClient(base_url=BASE_URL, token=issued.access_token)

    ada_client, grace_client = client_for(ada.id), client_for(grace.id)
    for client, role in [(ada_client, EnrolmentRole.MENTOR), (grace_client, EnrolmentRole.MENTEE)]:
        ok(create_enrolment.sync(programme.id, client=client, body=CreateEnrolment(role=role, topics=["AI tools"])))

    pair = ok(propose_pair.sync(programme.id, client=admin, body=ProposePair(mentor_id=ada.id, mentee_id=grace.id)))
    for client in (ada_client, grace_client):
        ok(record_agreement.sync(pair.id, client=client))

    ok(
        schedule_session.sync(
            pair.id,
            client=ada_client,
            body=ScheduleSession(
                starts_at=datetime.datetime(2027, 1, 18, 9, 0, tzinfo=datetime.timezone.utc),
                mode=Mode.VIDEO,
                agenda=["AI tools"],
            ),
        )
    )

    ok(
        create_survey.sync(
            programme.id,
            client=admin,
            body=CreateSurvey(
                title="After six sessions",
                milestone=Milestone.END,
                audience=Audience.BOTH,
                questions=[Question(id="recommend", kind=QuestionKind.NPS, prompt="Would you recommend it?")],
            ),
        )
    )
    pending = ok(list_survey_requests.sync(client=ada_client, state=RequestState.PENDING))
    for request in pending.data:
        answers = SubmitResponse(answers=[AnswerInput(question_id="recommend", value=9)])
        ok(submit_survey_response.sync(request.id, client=ada_client, body=answers))

    metrics = ok(get_programme_metrics.sync(programme.id, client=admin))
    print("pairs:", metrics.pairs.total)
    for event in ok(list_events.sync(client=admin, limit=50)).data:
        if isinstance(event, PairActivatedEvent):
            print("activated:", event.data.id, event.data.state)

    plugin = ok(
        upload_plugin.sync(
            client=admin,
            body=PluginUploadForm(
                manifest=Manifest(name="same-site-matcher", version="1.0.0", kind="matcher"),
                component=File(payload=io.BytesIO(component), file_name="component.wasm", mime_type="application/wasm"),
            ),
        )
    )
    print("plugin:", plugin.reference, plugin.state)
