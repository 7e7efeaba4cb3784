"""UPnP device architecture: the device description, service descriptions (SCPD) and SOAP.

The two services are declared once, as tables of actions and state variables; the SCPD
documents are drawn from the tables and every control request is checked against them:
an unknown action is error 401, a missing or malformed argument 402 (UDA 1.0 §3.2.2).
SOAP bodies are parsed with ``defusedxml`` and no DTD, entity or external reference is
accepted: a TV never sends one, and an attacker's "billion laughs" gets a 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

__all__ = [
    "CONNECTION_MANAGER",
    "CONTENT_DIRECTORY",
    "DEVICE_TYPE",
    "MEDIA_RECEIVER_REGISTRAR",
    "SERVICES",
    "Action",
    "Service",
    "SoapError",
    "UpnpError",
    "device_description",
    "parse_control",
    "scpd",
    "soap_fault",
    "soap_response",
]

DEVICE_TYPE = "urn:schemas-upnp-org:device:MediaServer:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
MAX_SOAP_BYTES = 64 * 1024
_UI4_MAX = 2**32 - 1

DataType = Literal["string", "ui4", "i4", "boolean"]


class SoapError(ValueError):
    """The request is not SOAP we can read at all (HTTP 400)."""


class UpnpError(Exception):
    """A UPnP error for the control point: code and description, sent as a SOAP fault."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: DataType = "string"
    events: bool = False
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    inputs: tuple[tuple[str, str], ...] = ()  # (argument, related state variable)
    outputs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Service:
    short: str  # "ContentDirectory": the URLs' name
    type: str
    id: str
    variables: tuple[Variable, ...]
    actions: tuple[Action, ...]

    def action(self, name: str) -> Action | None:
        return next((a for a in self.actions if a.name == name), None)

    def variable(self, name: str) -> Variable:
        return next(v for v in self.variables if v.name == name)


_BROWSE_IN = (
    ("Filter", "A_ARG_TYPE_Filter"),
    ("StartingIndex", "A_ARG_TYPE_Index"),
    ("RequestedCount", "A_ARG_TYPE_Count"),
    ("SortCriteria", "A_ARG_TYPE_SortCriteria"),
)
_BROWSE_OUT = (
    ("Result", "A_ARG_TYPE_Result"),
    ("NumberReturned", "A_ARG_TYPE_Count"),
    ("TotalMatches", "A_ARG_TYPE_Count"),
    ("UpdateID", "A_ARG_TYPE_UpdateID"),
)

CONTENT_DIRECTORY = Service(
    short="ContentDirectory",
    type="urn:schemas-upnp-org:service:ContentDirectory:1",
    id="urn:upnp-org:serviceId:ContentDirectory",
    variables=(
        Variable("A_ARG_TYPE_ObjectID"),
        Variable("A_ARG_TYPE_Result"),
        Variable("A_ARG_TYPE_SearchCriteria"),
        Variable("A_ARG_TYPE_BrowseFlag", allowed=("BrowseMetadata", "BrowseDirectChildren")),
        Variable("A_ARG_TYPE_Filter"),
        Variable("A_ARG_TYPE_SortCriteria"),
        Variable("A_ARG_TYPE_Index", "ui4"),
        Variable("A_ARG_TYPE_Count", "ui4"),
        Variable("A_ARG_TYPE_UpdateID", "ui4"),
        Variable("A_ARG_TYPE_Featurelist"),
        Variable("SearchCapabilities"),
        Variable("SortCapabilities"),
        Variable("SystemUpdateID", "ui4", events=True),
    ),
    actions=(
        Action("GetSearchCapabilities", outputs=(("SearchCaps", "SearchCapabilities"),)),
        Action("GetSortCapabilities", outputs=(("SortCaps", "SortCapabilities"),)),
        Action("GetSystemUpdateID", outputs=(("Id", "SystemUpdateID"),)),
        Action(
            "Browse",
            inputs=(
                ("ObjectID", "A_ARG_TYPE_ObjectID"),
                ("BrowseFlag", "A_ARG_TYPE_BrowseFlag"),
                *_BROWSE_IN,
            ),
            outputs=_BROWSE_OUT,
        ),
        Action(
            "Search",
            inputs=(
                ("ContainerID", "A_ARG_TYPE_ObjectID"),
                ("SearchCriteria", "A_ARG_TYPE_SearchCriteria"),
                *_BROWSE_IN,
            ),
            outputs=_BROWSE_OUT,
        ),
        # Samsung TVs ask for this before they show a server's video folders.
        Action("X_GetFeatureList", outputs=(("FeatureList", "A_ARG_TYPE_Featurelist"),)),
    ),
)

CONNECTION_MANAGER = Service(
    short="ConnectionManager",
    type="urn:schemas-upnp-org:service:ConnectionManager:1",
    id="urn:upnp-org:serviceId:ConnectionManager",
    variables=(
        Variable("SourceProtocolInfo", events=True),
        Variable("SinkProtocolInfo", events=True),
        Variable("CurrentConnectionIDs", events=True),
        Variable(
            "A_ARG_TYPE_ConnectionStatus",
            allowed=(
                "OK",
                "ContentFormatMismatch",
                "InsufficientBandwidth",
                "UnreliableChannel",
                "Unknown",
            ),
        ),
        Variable("A_ARG_TYPE_ConnectionManager"),
        Variable("A_ARG_TYPE_Direction", allowed=("Input", "Output")),
        Variable("A_ARG_TYPE_ProtocolInfo"),
        Variable("A_ARG_TYPE_ConnectionID", "i4"),
        Variable("A_ARG_TYPE_AVTransportID", "i4"),
        Variable("A_ARG_TYPE_RcsID", "i4"),
    ),
    actions=(
        Action(
            "GetProtocolInfo",
            outputs=(("Source", "SourceProtocolInfo"), ("Sink", "SinkProtocolInfo")),
        ),
        Action("GetCurrentConnectionIDs", outputs=(("ConnectionIDs", "CurrentConnectionIDs"),)),
        Action(
            "GetCurrentConnectionInfo",
            inputs=(("ConnectionID", "A_ARG_TYPE_ConnectionID"),),
            outputs=(
                ("RcsID", "A_ARG_TYPE_RcsID"),
                ("AVTransportID", "A_ARG_TYPE_AVTransportID"),
                ("ProtocolInfo", "A_ARG_TYPE_ProtocolInfo"),
                ("PeerConnectionManager", "A_ARG_TYPE_ConnectionManager"),
                ("PeerConnectionID", "A_ARG_TYPE_ConnectionID"),
                ("Direction", "A_ARG_TYPE_Direction"),
                ("Status", "A_ARG_TYPE_ConnectionStatus"),
            ),
        ),
    ),
)

# Windows Media Player and the Xbox list a media server only if it has this service and
# says every device is authorised (Jellyfin and MiniDLNA answer the same).
MEDIA_RECEIVER_REGISTRAR = Service(
    short="X_MS_MediaReceiverRegistrar",
    type="urn:microsoft.com:service:X_MS_MediaReceiverRegistrar:1",
    id="urn:microsoft.com:serviceId:X_MS_MediaReceiverRegistrar",
    variables=(
        Variable("A_ARG_TYPE_DeviceID"),
        Variable("A_ARG_TYPE_Result", "i4"),
        Variable("A_ARG_TYPE_RegistrationReqMsg"),
        Variable("A_ARG_TYPE_RegistrationRespMsg"),
        Variable("AuthorizationGrantedUpdateID", "ui4", events=True),
        Variable("AuthorizationDeniedUpdateID", "ui4", events=True),
        Variable("ValidationSucceededUpdateID", "ui4", events=True),
        Variable("ValidationRevokedUpdateID", "ui4", events=True),
    ),
    actions=(
        Action(
            "IsAuthorized",
            inputs=(("DeviceID", "A_ARG_TYPE_DeviceID"),),
            outputs=(("Result", "A_ARG_TYPE_Result"),),
        ),
        Action(
            "IsValidated",
            inputs=(("DeviceID", "A_ARG_TYPE_DeviceID"),),
            outputs=(("Result", "A_ARG_TYPE_Result"),),
        ),
        Action(
            "RegisterDevice",
            inputs=(("RegistrationReqMsg", "A_ARG_TYPE_RegistrationReqMsg"),),
            outputs=(("RegistrationRespMsg", "A_ARG_TYPE_RegistrationRespMsg"),),
        ),
    ),
)

SERVICES: Mapping[str, Service] = {
    s.short: s for s in (CONTENT_DIRECTORY, CONNECTION_MANAGER, MEDIA_RECEIVER_REGISTRAR)
}


ET.register_namespace("dlna", "urn:schemas-dlna-org:device-1-0")  # once, at import
ET.register_namespace("sec", "http://www.sec.co.kr/dlna")


def _xml(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


@dataclass(frozen=True, slots=True)
class Icon:
    mimetype: str
    size: int
    url: str


def device_description(
    *, udn: str, name: str, version: str, base: str, icons: Sequence[Icon], prefix: str
) -> bytes:
    """The root device's description (``LOCATION`` of the SSDP announcements)."""
    root = ET.Element("root", xmlns="urn:schemas-upnp-org:device-1-0")
    spec = _add(root, "specVersion")
    _add(spec, "major", "1")
    _add(spec, "minor", "0")
    device = _add(root, "device")
    for tag, text in (
        ("deviceType", DEVICE_TYPE),
        ("friendlyName", name),
        ("manufacturer", "Hearth"),
        ("modelDescription", "Hearth home media server"),
        ("modelName", "Hearth"),
        ("modelNumber", version),
        ("serialNumber", udn.removeprefix("uuid:")),
        ("UDN", udn),
        ("{urn:schemas-dlna-org:device-1-0}X_DLNADOC", "DMS-1.50"),
        # Samsung TVs ask for subtitles and media info (getCaptionInfo.sec) only if told.
        ("{http://www.sec.co.kr/dlna}ProductCap", "smi,DCM10,getMediaInfo.sec,getCaptionInfo.sec"),
        (
            "{http://www.sec.co.kr/dlna}X_ProductCap",
            "smi,DCM10,getMediaInfo.sec,getCaptionInfo.sec",
        ),
        ("presentationURL", f"{base}/"),
    ):
        _add(device, tag, text)
    icon_list = _add(device, "iconList")
    for icon in icons:
        element = _add(icon_list, "icon")
        for tag, text in (("mimetype", icon.mimetype), ("width", str(icon.size)),
                          ("height", str(icon.size)), ("depth", "24"), ("url", icon.url)):  # fmt: skip
            _add(element, tag, text)
    service_list = _add(device, "serviceList")
    for service in SERVICES.values():
        element = _add(service_list, "service")
        for tag, text in (
            ("serviceType", service.type),
            ("serviceId", service.id),
            ("SCPDURL", f"{prefix}/scpd/{service.short}.xml"),
            ("controlURL", f"{prefix}/control/{service.short}"),
            ("eventSubURL", f"{prefix}/event/{service.short}"),
        ):
            _add(element, tag, text)
    return _xml(root)


def scpd(service: Service) -> bytes:
    """The service description, drawn from the same table the control requests obey."""
    root = ET.Element("scpd", xmlns="urn:schemas-upnp-org:service-1-0")
    spec = _add(root, "specVersion")
    _add(spec, "major", "1")
    _add(spec, "minor", "0")
    actions = _add(root, "actionList")
    for action in service.actions:
        element = _add(actions, "action")
        _add(element, "name", action.name)
        arguments = _add(element, "argumentList")
        for direction, pairs in (("in", action.inputs), ("out", action.outputs)):
            for name, related in pairs:
                argument = _add(arguments, "argument")
                _add(argument, "name", name)
                _add(argument, "direction", direction)
                _add(argument, "relatedStateVariable", related)
    table = _add(root, "serviceStateTable")
    for variable in service.variables:
        element = _add(table, "stateVariable", None)
        element.set("sendEvents", "yes" if variable.events else "no")
        _add(element, "name", variable.name)
        _add(element, "dataType", variable.type)
        if variable.allowed:
            allowed = _add(element, "allowedValueList")
            for value in variable.allowed:
                _add(allowed, "allowedValue", value)
    return _xml(root)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _check(variable: Variable, argument: str, raw: str) -> str:
    if variable.type in ("ui4", "i4"):
        text = raw.strip()
        digits = text[1:] if variable.type == "i4" and text.startswith("-") else text
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 10:
            raise UpnpError(402, f"Invalid Args: {argument} must be a whole number")
        value = int(text)
        if (variable.type == "ui4" and value > _UI4_MAX) or (
            variable.type == "i4" and not -(2**31) <= value < 2**31
        ):
            raise UpnpError(402, f"Invalid Args: {argument} is out of range")
        return str(value)
    if variable.allowed and raw not in variable.allowed:
        raise UpnpError(
            402, f"Invalid Args: {argument} must be one of {', '.join(variable.allowed)}"
        )
    return raw


def parse_control(
    service: Service, soap_action: str | None, body: bytes
) -> tuple[Action, dict[str, str]]:
    """The action a control request asks for and its checked arguments.

    :class:`SoapError` when the body is not a SOAP envelope we accept (HTTP 400);
    :class:`UpnpError` for an unknown action (401) or bad arguments (402).
    """
    if len(body) > MAX_SOAP_BYTES:
        raise SoapError("the request is too large")
    try:
        envelope = SafeET.fromstring(body, forbid_dtd=True)
    except (DefusedXmlException, ET.ParseError, ValueError) as exc:
        raise SoapError(f"the request is not XML we accept ({type(exc).__name__})") from None
    if envelope.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapError("the request is not a SOAP envelope")
    soap_body = envelope.find(f"{{{SOAP_ENV}}}Body")
    if soap_body is None or len(soap_body) != 1:
        raise SoapError("the SOAP body must hold exactly one action")
    call = soap_body[0]
    namespace, name = _namespace(call.tag), _local(call.tag)
    wanted_type, _, wanted_name = (soap_action or "").strip().strip('"').partition("#")
    if not _same_service(namespace, service.type) or (soap_action and (
        wanted_name != name or not _same_service(wanted_type, service.type)
    )):  # fmt: skip
        raise UpnpError(401, f"Invalid Action: {name} is not an action of {service.short}")
    action = service.action(name)
    if action is None:
        raise UpnpError(401, f"Invalid Action: {service.short} has no action {name}")
    given = {_local(child.tag): (child.text or "") for child in call}
    arguments: dict[str, str] = {}
    for argument, related in action.inputs:
        if argument not in given:
            raise UpnpError(402, f"Invalid Args: {argument} is missing")
        arguments[argument] = _check(service.variable(related), argument, given[argument])
    return action, arguments


def _same_service(given: str, ours: str) -> bool:
    """The same service type at our version or an older one (UDA: a :1 call to a :2)."""
    kind, _, version = given.rpartition(":")
    our_kind, _, our_version = ours.rpartition(":")
    return kind == our_kind and version.isdigit() and 1 <= int(version) <= int(our_version)


def _envelope(inner: str) -> bytes:
    # Written out rather than through ElementTree: TVs look for the usual "s:" and "u:"
    # prefixes, and ElementTree's prefix table is shared by every thread.
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<s:Envelope xmlns:s="{SOAP_ENV}" s:encodingStyle="{SOAP_ENCODING}">'
        f"<s:Body>{inner}</s:Body></s:Envelope>"
    ).encode()


def soap_response(service: Service, action: Action, values: Mapping[str, str]) -> bytes:
    """``<u:ActionResponse>`` with the output arguments in the order the SCPD lists them."""
    arguments = "".join(f"<{name}>{escape(values[name])}</{name}>" for name, _ in action.outputs)
    return _envelope(
        f'<u:{action.name}Response xmlns:u="{service.type}">{arguments}</u:{action.name}Response>'
    )


def soap_fault(error: UpnpError) -> bytes:
    return _envelope(
        "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>"
        '<UPnPError xmlns="urn:schemas-upnp-org:control-1-0">'
        f"<errorCode>{error.code}</errorCode>"
        f"<errorDescription>{escape(error.description)}</errorDescription>"
        "</UPnPError></detail></s:Fault>"
    )
