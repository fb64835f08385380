"""The recipe assistant's API: send a message (the model's answer and its checked
proposals come back), read conversations, apply a valid proposal as a draft version, ask
the model to explain one. recipes.assistant does the work; errors are ServiceErrors."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import valid
from core.permissions import require
from core.throttling import PrincipalRateThrottle
from recipes import assistant, selectors
from recipes.api import RecipeOutput, VersionDetailOutput
from recipes.models import Conversation, Family, Level, Message, Proposal


class AssistantRateThrottle(PrincipalRateThrottle):
    """Per user (or key): every assistant message is a paid provider call."""

    scope = "recipe_assistant"


_THROTTLES = [PrincipalRateThrottle, AssistantRateThrottle]


class ProposalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="valid, refused or applied.")
    summary = serializers.CharField()
    rationale = serializers.CharField()
    patch = serializers.JSONField(help_text="RFC 6902 operations on the effective manifest.")
    reasons = serializers.JSONField(help_text="When refused: {JSON Pointer or field: [..]}.")
    diff = serializers.JSONField(help_text="What a valid one changes (RFC 6902).")
    base_version = serializers.CharField()
    base_hash = serializers.CharField()
    applied_version = serializers.SerializerMethodField()

    class Meta:
        ref_name = "AssistantProposal"

    def get_applied_version(self, proposal: Proposal) -> str | None:
        return proposal.applied_version.version if proposal.applied_version_id else None


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    role = serializers.CharField()
    message = serializers.CharField(source="content")
    author = serializers.SerializerMethodField()
    provider = serializers.CharField(source="provider_name")
    model = serializers.CharField()
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    attempts = serializers.IntegerField(help_text="Provider calls this answer took.")
    base_version = serializers.CharField()
    created_at = serializers.DateTimeField()
    proposals = ProposalOutput(many=True, source="proposals.all")

    class Meta:
        ref_name = "AssistantMessage"

    def get_author(self, message: Message) -> str | None:
        return message.author.username if message.author_id else None


class ConversationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    recipe = serializers.CharField(source="recipe.slug")
    started_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "AssistantConversation"

    def get_started_by(self, conversation: Conversation) -> str | None:
        return conversation.started_by.username if conversation.started_by_id else None


class ConversationDetailOutput(ConversationOutput):
    messages = MessageOutput(many=True, source="messages.all")

    class Meta:
        ref_name = "AssistantConversationDetail"


class MessageInput(serializers.Serializer):
    message = serializers.CharField(help_text="What you want, in plain words.")
    provider = serializers.CharField(help_text="A connected provider's name or id.")
    model = serializers.CharField(required=False, allow_blank=True, default="")
    conversation = serializers.IntegerField(
        required=False, allow_null=True, help_text="Continue this conversation (else a new one)."
    )

    class Meta:
        ref_name = "AssistantMessageCreate"


class ExplainInput(serializers.Serializer):
    provider = serializers.CharField(help_text="A connected provider's name or id.")

    class Meta:
        ref_name = "AssistantExplain"


class AssistantMessageApi(APIView):
    """The user's message to the recipe's assistant; answers with the model's message and
    its proposals, each checked against the latest version (valid or refused with reasons)."""

    parser_classes = [JSONParser]
    perms = {"POST": assistant.USE_ASSISTANT}
    throttle_classes = _THROTTLES

    @extend_schema(
        operation_id="recipe_assistant_message",
        request=MessageInput,
        responses={201: MessageOutput},
    )
    def post(self, request: Request, slug: str) -> Response:
        recipe = selectors.recipe_get(slug=slug, user=request.user)
        require(request.user, "recipes.add_conversation", recipe)
        data = valid(MessageInput(data=request.data))
        answer = assistant.assistant_message_send(
            recipe=recipe,
            message=data["message"],
            provider=assistant.provider_pick(data["provider"]),
            actor=request.user,
            conversation_id=data.get("conversation"),
            model=data["model"] or None,
        )
        return Response(MessageOutput(answer).data, status=status.HTTP_201_CREATED)


class ConversationListApi(APIView):
    perms = {"GET": assistant.VIEW_CONVERSATION}

    @extend_schema(
        operation_id="recipe_assistant_conversations_list",
        responses=ConversationOutput(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        recipe = selectors.recipe_get(slug=slug, user=request.user)
        found = assistant.conversations_for(recipe=recipe, actor=request.user)
        return Response(ConversationOutput(found, many=True).data)


class ConversationDetailApi(APIView):
    perms = {"GET": assistant.VIEW_CONVERSATION}

    @extend_schema(
        operation_id="recipe_assistant_conversations_retrieve",
        responses=ConversationDetailOutput,
    )
    def get(self, request: Request, slug: str, conversation: int) -> Response:
        recipe = selectors.recipe_get(slug=slug, user=request.user)
        found = assistant.conversation_get(
            recipe=recipe, conversation_id=conversation, actor=request.user
        )
        return Response(ConversationDetailOutput(found).data)


class ProposalApplyApi(APIView):
    """A valid proposal becomes a new draft version (approval stays four-eyes); 409 when
    it was refused, applied already, or made against an older version."""

    perms = {"POST": "recipes.add_recipeversion"}

    @extend_schema(
        operation_id="recipe_assistant_proposal_apply",
        request=None,
        responses={201: VersionDetailOutput},
    )
    def post(self, request: Request, slug: str, proposal: int) -> Response:
        recipe = selectors.recipe_get(slug=slug, user=request.user)
        found = assistant.proposal_get(recipe=recipe, proposal_id=proposal, actor=request.user)
        version = assistant.proposal_apply(proposal=found, actor=request.user)
        return Response(VersionDetailOutput(version).data, status=status.HTTP_201_CREATED)


class ProposalExplainApi(APIView):
    """Ask the model why it proposed this, in the same conversation."""

    parser_classes = [JSONParser]
    perms = {"POST": assistant.USE_ASSISTANT}
    throttle_classes = _THROTTLES

    @extend_schema(
        operation_id="recipe_assistant_proposal_explain",
        request=ExplainInput,
        responses={201: MessageOutput},
    )
    def post(self, request: Request, slug: str, proposal: int) -> Response:
        recipe = selectors.recipe_get(slug=slug, user=request.user)
        require(request.user, "recipes.add_conversation", recipe)
        found = assistant.proposal_get(recipe=recipe, proposal_id=proposal, actor=request.user)
        data = valid(ExplainInput(data=request.data))
        answer = assistant.proposal_explain(
            proposal=found, provider=assistant.provider_pick(data["provider"]), actor=request.user
        )
        return Response(MessageOutput(answer).data, status=status.HTTP_201_CREATED)


class RecipeNewInput(serializers.Serializer):
    family = serializers.ChoiceField(choices=Family.choices)
    goal = serializers.CharField(help_text="What the recipe is for, in plain words.")
    name = serializers.CharField(max_length=200)
    level = serializers.ChoiceField(
        choices=[Level.INDUSTRY, Level.CLIENT], default=Level.CLIENT, required=False
    )
    provider = serializers.CharField(help_text="A connected provider's name or id.")
    model = serializers.CharField(required=False, allow_blank=True, default="")
    team = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Your team's slug (if several)."
    )

    class Meta:
        ref_name = "AssistantRecipeNew"


class RecipeNewOutput(serializers.Serializer):
    recipe = RecipeOutput()
    version = VersionDetailOutput()
    proposal = ProposalOutput()
    conversation = serializers.IntegerField(source="message.conversation_id")
    message = serializers.CharField(source="message.content")

    class Meta:
        ref_name = "AssistantRecipeNewResult"


class AssistantRecipeNewApi(APIView):
    """A new child recipe of the family's baseline whose first draft version is the model's
    first manifest (a validated patch on the baseline); 400 with the reasons and nothing
    created when the model's proposals stay refused after the retries."""

    parser_classes = [JSONParser]
    perms = {"POST": assistant.ADD_RECIPE}
    throttle_classes = _THROTTLES

    @extend_schema(
        operation_id="recipe_assistant_new",
        request=RecipeNewInput,
        responses={201: RecipeNewOutput},
    )
    def post(self, request: Request) -> Response:
        data = valid(RecipeNewInput(data=request.data))
        made = assistant.assistant_recipe_new(
            family=data["family"],
            goal=data["goal"],
            name=data["name"],
            level=data["level"],
            team=data["team"],
            provider=assistant.provider_pick(data["provider"]),
            actor=request.user,
            model=data["model"] or None,
        )
        return Response(RecipeNewOutput(made).data, status=status.HTTP_201_CREATED)
