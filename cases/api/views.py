"""Thin viewsets: parse with an input serializer, call ONE service, render with a read serializer."""

import base64
import binascii
import hashlib
import json

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from cases.evidence_pdf import evidence_pdf_response
from cases.models import ApiToken, Case, Decision, EffectiveDecision, Entity, Exemption, Override, Person, Relationship
from cases.selectors.feed import event_body, feed_page
from cases.services import cases as case_services
from cases.services import exemptions as exemption_services
from cases.services import overrides as override_services
from cases.services.entities import entity_create, entity_update
from cases.services.feed import decision_body, effective_body_for
from cases.services.idempotency import idempotency_run
from cases.services.persons import person_create, person_update
from cases.services.relationships import relationship_close, relationship_create, relationship_update
from cases.services.replay import decision_replay
from cases.services.screening_requests import screening_request_submit

from . import examples as ex
from . import serializers as s
from .filters import CaseFilterSet, DecisionFilterSet, EntityFilterSet, PersonFilterSet, RelationshipFilterSet
from .pagination import ApiCursorPagination
from .permissions import NotIntegration
from .throttling import ScreeningRequestThrottle, TokenRateThrottle

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Retries with the same key and body return the first response (status and body); "
    "the same key with another body is refused with 422.",
)
ERRORS = {
    400: OpenApiResponse(description="Malformed input", examples=[ex.VALIDATION_ERROR]),
    401: OpenApiResponse(description="No or invalid credentials"),
    403: OpenApiResponse(description="Not allowed (role, token scope)"),
    422: OpenApiResponse(description="Refused by a business rule", examples=[ex.UNPROCESSABLE]),
    404: OpenApiResponse(description="Not found"),
    409: OpenApiResponse(description="Conflict (concurrent change, request still in progress)"),
    429: OpenApiResponse(description="Throttled; see Retry-After"),
}
READ_ERRORS = {
    400: OpenApiResponse(description="Invalid filter or cursor"),
    401: ERRORS[401],
    403: ERRORS[403],
    404: ERRORS[404],
    429: ERRORS[429],
}
LOOKUP = r"[^/]+"


def _jsonable(data):
    if data is None:
        return None
    return json.loads(JSONRenderer().render(data))


class ApiViewMixin:
    """Idempotency-Key support on POST (and the common throttles)."""

    throttle_classes = [TokenRateThrottle]

    def dispatch(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        raw_body = request.body if request.method == "POST" and key else b""  # read before DRF parses it
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            method = request.method.lower()
            handler = getattr(self, method, self.http_method_not_allowed)
            if method not in self.http_method_names:
                handler = self.http_method_not_allowed
            if request.method == "POST" and key:
                response = self._idempotent(request, handler, key, raw_body, *args, **kwargs)
            else:
                response = handler(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # No stored id contains NUL (every input field refuses it), and PostgreSQL cannot even compare a
        # text column with one (psycopg raises DataError): such a lookup is simply not found.
        if any("\x00" in str(value) for value in kwargs.values()):
            raise NotFound()

    def _idempotent(self, request, handler, key, raw_body, *args, **kwargs):
        if len(key) > 255 or not key.strip() or any(ord(c) < 32 or ord(c) == 127 for c in key):
            raise ValidationError({"Idempotency-Key": "Must be 1 to 255 characters, without control characters."})
        owner = f"token:{request.auth.pk}" if isinstance(request.auth, ApiToken) else f"user:{request.user.pk}"

        def call():
            try:
                response = handler(request, *args, **kwargs)
            except Exception as exc:
                response = self.handle_exception(exc)
            return response.status_code, _jsonable(response.data)

        result = idempotency_run(
            owner=owner, key=key, method=request.method, path=request.path, body=raw_body, call=call
        )
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return Response(result.body, status=result.status, headers=headers)


class BaseViewSet(ApiViewMixin, viewsets.GenericViewSet):
    pagination_class = ApiCursorPagination

    def input(self, serializer_class, *, partial: bool = False) -> dict:
        serializer = serializer_class(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


# -- entities and persons -----------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List entities", responses={200: s.EntitySerializer(many=True), **READ_ERRORS}, examples=[ex.ENTITY_OUT]
    ),
    retrieve=extend_schema(
        summary="One entity", responses={200: s.EntitySerializer, **READ_ERRORS}, examples=[ex.ENTITY_OUT]
    ),
)
class EntityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """Companies and other legal bodies. Writes re-screen the entity and everything it owns."""

    queryset = Entity.objects.select_related("current", "effective").prefetch_related("identifiers").order_by("id")
    serializer_class = s.EntitySerializer
    filterset_class = EntityFilterSet
    lookup_field = "external_id"
    lookup_value_regex = LOOKUP
    view_permission = "cases.view_entity"
    action_permissions = {
        "create": ("cases.add_entity",),
        "update": ("cases.change_entity",),
        "partial_update": ("cases.change_entity",),
    }

    @extend_schema(
        summary="Create an entity",
        request=s.EntityInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.EntitySerializer, **ERRORS},
        examples=[ex.ENTITY_IN, ex.ENTITY_OUT],
    )
    def create(self, request):
        data = self.input(s.EntityInputSerializer)
        entity = entity_create(actor=request.user, **data)
        return Response(s.EntitySerializer(self.get_queryset().get(pk=entity.pk)).data, status=201)

    @extend_schema(
        summary="Replace an entity's fields",
        request=s.EntityUpdateSerializer,
        responses={200: s.EntitySerializer, **ERRORS},
        examples=[ex.ENTITY_UPDATE, ex.ENTITY_OUT],
    )
    def update(self, request, external_id=None, partial=False):
        entity = self.get_object()
        data = self.input(s.EntityUpdateSerializer, partial=partial)
        entity = entity_update(actor=request.user, entity=entity, **data)
        return Response(s.EntitySerializer(self.get_queryset().get(pk=entity.pk)).data)

    @extend_schema(
        summary="Change some of an entity's fields",
        request=s.EntityUpdateSerializer,
        responses={200: s.EntitySerializer, **ERRORS},
        examples=[ex.ENTITY_UPDATE, ex.ENTITY_OUT],
    )
    def partial_update(self, request, external_id=None):
        return self.update(request, external_id=external_id, partial=True)


@extend_schema_view(
    list=extend_schema(
        summary="List persons", responses={200: s.PersonSerializer(many=True), **READ_ERRORS}, examples=[ex.PERSON_OUT]
    ),
    retrieve=extend_schema(
        summary="One person", responses={200: s.PersonSerializer, **READ_ERRORS}, examples=[ex.PERSON_OUT]
    ),
)
class PersonViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """Natural persons: they own, they are never screened. Writes re-screen what they own."""

    queryset = Person.objects.order_by("id")
    serializer_class = s.PersonSerializer
    filterset_class = PersonFilterSet
    lookup_field = "external_id"
    lookup_value_regex = LOOKUP
    view_permission = "cases.view_person"
    action_permissions = {
        "create": ("cases.add_person",),
        "update": ("cases.change_person",),
        "partial_update": ("cases.change_person",),
    }

    @extend_schema(
        summary="Create a person",
        request=s.PersonInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.PersonSerializer, **ERRORS},
        examples=[ex.PERSON_IN, ex.PERSON_OUT],
    )
    def create(self, request):
        person = person_create(actor=request.user, **self.input(s.PersonInputSerializer))
        return Response(s.PersonSerializer(person).data, status=201)

    @extend_schema(
        summary="Replace a person's fields",
        request=s.PersonUpdateSerializer,
        responses={200: s.PersonSerializer, **ERRORS},
        examples=[ex.PERSON_UPDATE, ex.PERSON_OUT],
    )
    def update(self, request, external_id=None, partial=False):
        person = self.get_object()
        person = person_update(
            actor=request.user, person=person, **self.input(s.PersonUpdateSerializer, partial=partial)
        )
        return Response(s.PersonSerializer(person).data)

    @extend_schema(
        summary="Change some of a person's fields",
        request=s.PersonUpdateSerializer,
        responses={200: s.PersonSerializer, **ERRORS},
        examples=[ex.PERSON_UPDATE, ex.PERSON_OUT],
    )
    def partial_update(self, request, external_id=None):
        return self.update(request, external_id=external_id, partial=True)


# -- relationships ------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List relationships",
        responses={200: s.RelationshipSerializer(many=True), **READ_ERRORS},
        examples=[ex.RELATIONSHIP_OUT],
    ),
    retrieve=extend_schema(
        summary="One relationship",
        responses={200: s.RelationshipSerializer, **READ_ERRORS},
        examples=[ex.RELATIONSHIP_OUT],
    ),
)
class RelationshipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """Ownership/control of a subject entity by an owner, with interests. Every write re-screens downstream."""

    queryset = (
        Relationship.objects.select_related("subject", "interested_entity", "interested_person")
        .prefetch_related("interests")
        .order_by("id")
    )
    serializer_class = s.RelationshipSerializer
    filterset_class = RelationshipFilterSet
    lookup_field = "external_id"
    lookup_value_regex = LOOKUP
    view_permission = "cases.view_relationship"
    action_permissions = {
        "create": ("cases.add_relationship",),
        "update": ("cases.change_relationship",),
        "partial_update": ("cases.change_relationship",),
        "destroy": ("cases.change_relationship",),  # closes the relationship (BODS: closed), never deletes
    }

    def _out(self, relationship, code=200):
        return Response(s.RelationshipSerializer(self.get_queryset().get(pk=relationship.pk)).data, status=code)

    @extend_schema(
        summary="Create a relationship (re-screens the subject and everything it owns)",
        request=s.RelationshipInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.RelationshipSerializer, **ERRORS},
        examples=[ex.RELATIONSHIP_IN, ex.RELATIONSHIP_OUT],
    )
    def create(self, request):
        relationship = relationship_create(actor=request.user, **self.input(s.RelationshipInputSerializer))
        return self._out(relationship, 201)

    @extend_schema(
        summary="Change a relationship; interests given replace all its interests",
        request=s.RelationshipUpdateSerializer,
        responses={200: s.RelationshipSerializer, **ERRORS},
        examples=[ex.RELATIONSHIP_UPDATE, ex.RELATIONSHIP_OUT],
    )
    def update(self, request, external_id=None, partial=False):
        relationship = self.get_object()
        data = self.input(s.RelationshipUpdateSerializer, partial=partial)
        return self._out(relationship_update(actor=request.user, relationship=relationship, **data))

    @extend_schema(
        summary="Change a relationship (partial)",
        request=s.RelationshipUpdateSerializer,
        responses={200: s.RelationshipSerializer, **ERRORS},
        examples=[ex.RELATIONSHIP_UPDATE, ex.RELATIONSHIP_OUT],
    )
    def partial_update(self, request, external_id=None):
        return self.update(request, external_id=external_id, partial=True)

    @extend_schema(
        summary="Close a relationship (it stops counting; kept as evidence)",
        responses={204: None, **ERRORS},
    )
    def destroy(self, request, external_id=None):
        relationship_close(actor=request.user, relationship=self.get_object(), reason="closed through the API")
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- decisions ----------------------------------------------------------------------------------


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != "seq" or not number.isdigit():
            raise ValueError(raw)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationError({"cursor": "Invalid cursor."}) from exc


def etag_for(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return f'"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"'


class DecisionPagination(ApiCursorPagination):
    ordering = "pk"


@extend_schema_view(
    list=extend_schema(
        summary="List effective decisions (customers)",
        responses={200: s.DecisionSerializer(many=True), **READ_ERRORS},
        examples=[ex.DECISION_OUT],
    ),
)
class DecisionViewSet(mixins.ListModelMixin, BaseViewSet):
    """Effective decisions: what the business acts on (exemption, else applied override, else automatic)."""

    queryset = EffectiveDecision.objects.select_related("entity", "decision__policy", "override", "exemption")
    serializer_class = s.DecisionSerializer
    filterset_class = DecisionFilterSet
    pagination_class = DecisionPagination
    lookup_field = "external_id"
    lookup_value_regex = LOOKUP
    view_permission = "cases.view_effectivedecision"

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        bodies = [
            decision_body(
                entity=row.entity,
                decision=row.decision,
                outcome=row.outcome,
                source=row.source,
                override=row.override,
                exemption=row.exemption,
                updated_at=row.updated_at,
            )
            for row in page
        ]
        return self.get_paginated_response(bodies)

    @extend_schema(
        summary="The current effective decision of one entity",
        description="Spec section 11 decision object; `outcome` is the effective outcome and `source` says "
        "where it comes from. Send `If-None-Match` with the last `ETag` to get 304 when nothing changed.",
        parameters=[OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False)],
        responses={200: s.DecisionSerializer, 304: OpenApiResponse(description="Not modified"), **READ_ERRORS},
        examples=[ex.DECISION_OUT],
    )
    def retrieve(self, request, external_id=None):
        body = effective_body_for(external_id=external_id)
        if body is None:
            raise Http404
        etag = etag_for(body)
        if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response(body, headers={"ETag": etag, "Cache-Control": "private, no-cache"})

    @extend_schema(
        summary="Change feed of effective decisions",
        description="Every effective-decision change in commit order. Start without a cursor, then always pass "
        "the `next_cursor` you got; it stays the same while nothing new has happened. Nothing is skipped or "
        "repeated.",
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR, required=False, description="next_cursor of the last page"),
            OpenApiParameter("limit", OpenApiTypes.INT, required=False, description="1-500, default 100"),
        ],
        responses={200: s.DecisionChangePageSerializer, **READ_ERRORS},
        examples=[ex.CHANGES_OUT],
        filters=False,
    )
    @action(detail=False, methods=["get"], url_path="changes", pagination_class=None, filterset_class=None)
    def changes(self, request):
        after = decode_cursor(request.query_params.get("cursor"))
        try:
            limit = int(request.query_params.get("limit", 100))
        except ValueError as exc:
            raise ValidationError({"limit": "A whole number from 1 to 500."}) from exc
        if not 1 <= limit <= 500:
            raise ValidationError({"limit": "A whole number from 1 to 500."})
        events = feed_page(after=after, limit=limit + 1)
        has_more = len(events) > limit
        events = events[:limit]
        last = events[-1].seq if events else after
        return Response(
            {"results": [event_body(e) for e in events], "next_cursor": encode_cursor(last), "has_more": has_more}
        )


# -- screening requests ---------------------------------------------------------------------------


class ScreeningRequestViewSet(BaseViewSet):
    """Register a customer with its known owners and get its decision back in the same response."""

    serializer_class = s.ScreeningRequestSerializer
    throttle_classes = [TokenRateThrottle, ScreeningRequestThrottle]
    pagination_class = None
    view_permission = "cases.view_effectivedecision"
    action_permissions = {"create": ("cases.add_customer",)}  # owners given need add_entity/add_relationship too

    @extend_schema(
        summary="Screen a customer now",
        description="Entity data plus known owners (simple JSON `owners`, or BODS 0.4 statements in `bods`). "
        "Returns the effective decision and, when it needs review, the open case's reference. "
        "201 when the customer was new, 200 when it was already registered.",
        request=s.ScreeningRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.ScreeningResultSerializer, 200: s.ScreeningResultSerializer, **ERRORS},
        examples=[ex.SCREENING_SIMPLE, ex.SCREENING_BODS, ex.SCREENING_OUT],
    )
    def create(self, request):
        data = self.input(s.ScreeningRequestSerializer)
        result = screening_request_submit(actor=request.user, **data)
        return Response(result, status=201 if result["customer_created"] else 200)


# -- cases ------------------------------------------------------------------------------------------


class CasePagination(ApiCursorPagination):
    ordering = "-id"


def _action_schema(summary, request_serializer, response_serializer, example=None, status_code=200):
    out = {
        s.CaseDetailSerializer: ex.CASE_OUT,
        s.OverrideSerializer: ex.OVERRIDE_OUT,
        s.ExemptionSerializer: ex.EXEMPTION_OUT,
    }[response_serializer]
    return extend_schema(
        summary=summary,
        request=request_serializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={status_code: response_serializer, **ERRORS},
        examples=[example, out] if example else [out],
    )


@extend_schema_view(
    list=extend_schema(
        summary="List cases", responses={200: s.CaseSerializer(many=True), **READ_ERRORS}, examples=[ex.CASE_LIST_OUT]
    ),
    retrieve=extend_schema(
        summary="One case with notes, overrides, exemptions",
        responses={200: s.CaseDetailSerializer, **READ_ERRORS},
        examples=[ex.CASE_OUT],
    ),
)
class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """Screening cases. Actions call the same services as the admin; they check roles and four-eyes."""

    queryset = Case.objects.select_related("subject", "assignee", "decided_by").order_by("-id")
    serializer_class = s.CaseSerializer
    filterset_class = CaseFilterSet
    pagination_class = CasePagination
    lookup_field = "reference"
    lookup_value_regex = LOOKUP
    view_permission = "cases.view_case"
    action_permissions = {
        # "assign" needs work_case (to oneself) or assign_case (to another): only the service knows which.
        "start_review": ("cases.work_case",),
        "notes": ("cases.work_case",),
        "confirm": ("cases.work_case",),
        "overrides": ("cases.propose_override",),
        "exemptions": ("cases.request_exemption",),
    }

    def get_serializer_class(self):
        return s.CaseDetailSerializer if self.action != "list" else s.CaseSerializer

    def _case(self, case):
        detail = s.CaseDetailSerializer(self.get_queryset().get(pk=case.pk), context=self.get_serializer_context())
        return Response(detail.data)

    @_action_schema("Assign (to a user, or to yourself)", s.AssignSerializer, s.CaseDetailSerializer, ex.ASSIGN_IN)
    @action(detail=True, methods=["post"])
    def assign(self, request, reference=None):
        case = self.get_object()
        username = self.input(s.AssignSerializer).get("username")
        if username and username != request.user.get_username():
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                raise ValidationError({"username": f"No user {username!r}."})
            case = case_services.case_assign(case=case, user=user, actor=request.user)
        else:
            case = case_services.case_assign_to_me(case=case, actor=request.user)
        return self._case(case)

    @_action_schema("Start the review (open → in review)", None, s.CaseDetailSerializer)
    @action(detail=True, methods=["post"], url_path="start-review")
    def start_review(self, request, reference=None):
        return self._case(case_services.case_start_review(case=self.get_object(), actor=request.user))

    @_action_schema("Add a note", s.NoteInputSerializer, s.CaseDetailSerializer, ex.NOTE_IN)
    @action(detail=True, methods=["post"])
    def notes(self, request, reference=None):
        case = self.get_object()
        case_services.case_add_note(case=case, actor=request.user, **self.input(s.NoteInputSerializer))
        return self._case(case)

    @_action_schema("Confirm the automatic outcome and close", s.ReasonSerializer, s.CaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request, reference=None):
        data = self.input(s.ReasonSerializer)
        return self._case(case_services.case_confirm_outcome(case=self.get_object(), actor=request.user, **data))

    @_action_schema("Propose an override", s.OverrideInputSerializer, s.OverrideSerializer, ex.OVERRIDE_IN, 201)
    @action(detail=True, methods=["post"])
    def overrides(self, request, reference=None):
        data = self.input(s.OverrideInputSerializer)
        override = override_services.override_propose(case=self.get_object(), actor=request.user, **data)
        return Response(s.OverrideSerializer(override).data, status=201)

    @_action_schema("Request an exemption", s.ExemptionInputSerializer, s.ExemptionSerializer, ex.EXEMPTION_IN, 201)
    @action(detail=True, methods=["post"])
    def exemptions(self, request, reference=None):
        case = self.get_object()
        data = self.input(s.ExemptionInputSerializer)
        exemption = exemption_services.exemption_request(entity=case.subject, case=case, actor=request.user, **data)
        return Response(s.ExemptionSerializer(exemption).data, status=201)


@extend_schema_view(
    list=extend_schema(
        summary="List overrides",
        responses={200: s.OverrideSerializer(many=True), **READ_ERRORS},
        examples=[ex.OVERRIDE_OUT],
    ),
    retrieve=extend_schema(
        summary="One override", responses={200: s.OverrideSerializer, **READ_ERRORS}, examples=[ex.OVERRIDE_OUT]
    ),
)
class OverrideViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """Overrides; approving or rejecting is four-eyes (a Manager who did not propose it; never an integration)."""

    queryset = Override.objects.select_related("case", "proposed_by", "approved_by").order_by("-id")
    serializer_class = s.OverrideSerializer
    pagination_class = CasePagination
    view_permission = "cases.view_override"
    action_permissions = {"approve": ("cases.approve_override",), "reject": ("cases.approve_override",)}

    @_action_schema("Approve and apply (four-eyes)", s.ApprovalSerializer, s.OverrideSerializer, ex.APPROVAL_IN)
    @action(detail=True, methods=["post"], permission_classes=[*BaseViewSet.permission_classes, NotIntegration])
    def approve(self, request, pk=None):
        override = override_services.override_approve(
            override=self.get_object(), actor=request.user, **self.input(s.ApprovalSerializer)
        )
        return Response(s.OverrideSerializer(override).data)

    @_action_schema("Reject (four-eyes)", s.ApprovalSerializer, s.OverrideSerializer, ex.APPROVAL_IN)
    @action(detail=True, methods=["post"], permission_classes=[*BaseViewSet.permission_classes, NotIntegration])
    def reject(self, request, pk=None):
        override = override_services.override_reject(
            override=self.get_object(), actor=request.user, **self.input(s.ApprovalSerializer)
        )
        return Response(s.OverrideSerializer(override).data)


@extend_schema_view(
    list=extend_schema(
        summary="List exemptions",
        responses={200: s.ExemptionSerializer(many=True), **READ_ERRORS},
        examples=[ex.EXEMPTION_OUT],
    ),
    retrieve=extend_schema(
        summary="One exemption", responses={200: s.ExemptionSerializer, **READ_ERRORS}, examples=[ex.EXEMPTION_OUT]
    ),
)
class ExemptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """Exemptions; approving or rejecting is four-eyes (a Manager who did not request it; never an integration)."""

    queryset = Exemption.objects.select_related("entity", "case", "requested_by", "approved_by").order_by("-id")
    serializer_class = s.ExemptionSerializer
    pagination_class = CasePagination
    view_permission = "cases.view_exemption"
    action_permissions = {"approve": ("cases.approve_exemption",), "reject": ("cases.approve_exemption",)}

    @_action_schema("Approve (four-eyes)", s.ApprovalSerializer, s.ExemptionSerializer, ex.APPROVAL_IN)
    @action(detail=True, methods=["post"], permission_classes=[*BaseViewSet.permission_classes, NotIntegration])
    def approve(self, request, pk=None):
        exemption = exemption_services.exemption_approve(
            exemption=self.get_object(), actor=request.user, **self.input(s.ApprovalSerializer)
        )
        return Response(s.ExemptionSerializer(exemption).data)

    @_action_schema("Reject (four-eyes)", s.ApprovalSerializer, s.ExemptionSerializer, ex.APPROVAL_IN)
    @action(detail=True, methods=["post"], permission_classes=[*BaseViewSet.permission_classes, NotIntegration])
    def reject(self, request, pk=None):
        exemption = exemption_services.exemption_reject(
            exemption=self.get_object(), actor=request.user, **self.input(s.ApprovalSerializer)
        )
        return Response(s.ExemptionSerializer(exemption).data)


# -- stored decisions: replay and evidence report -----------------------------------------------


class DecisionRecordViewSet(BaseViewSet):
    """One stored decision by its id (``Decision``, immutable evidence): replayed, or as a PDF report.

    ``/decisions/{external_id}/`` is the entity's effective decision; these routes take the numeric id
    of one stored decision (``decision_id`` in decisions, feed events and webhooks).
    """

    queryset = Decision.objects.select_related("entity", "policy")
    lookup_value_regex = "[0-9]+"
    view_permission = "cases.view_decision"

    @extend_schema(
        summary="Replay a stored decision",
        description=(
            "Re-runs today's engine on the graph the decision saw (its input snapshot) under its policy version: "
            "`same_result` and `differences`; and whether today's records for its as-of date give the same input "
            "(`input_fingerprint_match`). Read-only."
        ),
        responses={200: OpenApiResponse(response=OpenApiTypes.OBJECT, description="The replay"), **READ_ERRORS},
        examples=[ex.REPLAY_OUT],
    )
    def replay(self, request, pk=None):
        return Response(decision_replay(decision=self.get_object()).as_json())

    @extend_schema(
        summary="Decision evidence report (PDF)",
        responses={
            (200, "application/pdf"): OpenApiResponse(response=OpenApiTypes.BINARY, description="The PDF report"),
            **READ_ERRORS,
        },
        examples=[ex.REPORT_OUT],
    )
    def report(self, request, pk=None):
        return evidence_pdf_response(self.get_object())
