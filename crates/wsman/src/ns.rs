//! Namespace URIs, action URIs and dialect URIs of WS-Management and the WinRM
//! extensions, named once so that the parser, the writer and the validator agree.

/// SOAP 1.2 envelope.
pub const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
/// SOAP 1.1 envelope: recognised only to answer `VersionMismatch`.
pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// WS-Addressing 2004/08.
pub const WSA: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
/// WS-Management.
pub const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
/// WS-Management Identify.
pub const WSMID: &str = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd";
/// WS-Transfer.
pub const WXF: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
/// WS-Enumeration.
pub const WSEN: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
/// WS-Eventing.
pub const WSE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing";
/// WS-Management CIM binding.
pub const WSMB: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd";
/// WinRM remote shell.
pub const RSP: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
/// WinRM fault detail (`WSManFault`).
pub const WSMANFAULT: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";
/// Microsoft extension headers (`SessionId`, `OperationID`, `DataLocale`...).
pub const MSWSMAN: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";
/// XML Schema instance (`xsi:nil`, `xsi:type`).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The `xml:` prefix (`xml:lang`), bound by definition.
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
/// The `xmlns:` prefix, bound by definition.
pub const XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// The anonymous reply address every request/response operation must use.
pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

/// Resource URI prefix of DMTF CIM classes.
pub const CIM_SCHEMA: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
/// Resource URI prefix of WMI classes as WinRM exposes them.
pub const WMI: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/";
/// The WinRM cmd shell resource URI.
pub const SHELL_CMD: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";

/// Action URIs.
pub mod action {
    /// WS-Transfer Get.
    pub const GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
    /// WS-Transfer Get response.
    pub const GET_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse";
    /// WS-Transfer Put.
    pub const PUT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put";
    /// WS-Transfer Put response.
    pub const PUT_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse";
    /// WS-Transfer Create.
    pub const CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
    /// WS-Transfer Create response.
    pub const CREATE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse";
    /// WS-Transfer Delete.
    pub const DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
    /// WS-Transfer Delete response.
    pub const DELETE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse";
    /// WS-Enumeration Enumerate.
    pub const ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
    /// WS-Enumeration Enumerate response.
    pub const ENUMERATE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse";
    /// WS-Enumeration Pull.
    pub const PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
    /// WS-Enumeration Pull response.
    pub const PULL_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse";
    /// WS-Enumeration Release.
    pub const RELEASE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release";
    /// WS-Enumeration Release response.
    pub const RELEASE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse";
    /// WS-Enumeration Renew.
    pub const ENUM_RENEW: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Renew";
    /// WS-Enumeration Renew response.
    pub const ENUM_RENEW_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/RenewResponse";
    /// WS-Enumeration GetStatus.
    pub const ENUM_GET_STATUS: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/GetStatus";
    /// WS-Enumeration GetStatus response.
    pub const ENUM_GET_STATUS_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/GetStatusResponse";
    /// WS-Eventing Subscribe.
    pub const SUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe";
    /// WS-Eventing Subscribe response.
    pub const SUBSCRIBE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscribeResponse";
    /// WS-Eventing Renew.
    pub const RENEW: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew";
    /// WS-Eventing Renew response.
    pub const RENEW_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/RenewResponse";
    /// WS-Eventing GetStatus.
    pub const GET_STATUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/GetStatus";
    /// WS-Eventing GetStatus response.
    pub const GET_STATUS_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/GetStatusResponse";
    /// WS-Eventing Unsubscribe.
    pub const UNSUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Unsubscribe";
    /// WS-Eventing Unsubscribe response.
    pub const UNSUBSCRIBE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/UnsubscribeResponse";
    /// WS-Eventing SubscriptionEnd.
    pub const SUBSCRIPTION_END: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd";
    /// WinRM shell Command.
    pub const COMMAND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";
    /// WinRM shell Command response.
    pub const COMMAND_RESPONSE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse";
    /// WinRM shell Send.
    pub const SEND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send";
    /// WinRM shell Send response.
    pub const SEND_RESPONSE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SendResponse";
    /// WinRM shell Receive.
    pub const RECEIVE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive";
    /// WinRM shell Receive response.
    pub const RECEIVE_RESPONSE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse";
    /// WinRM shell Signal.
    pub const SIGNAL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal";
    /// WinRM shell Signal response.
    pub const SIGNAL_RESPONSE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse";
    /// WinRM shell Connect (MS-WSMV 3.1.4.5; PowerShell runspace pools).
    pub const CONNECT: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Connect";
    /// WinRM shell Connect response.
    pub const CONNECT_RESPONSE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ConnectResponse";
    /// WinRM shell Disconnect (MS-WSMV 3.1.4.15; PowerShell runspace pools).
    pub const DISCONNECT: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Disconnect";
    /// WinRM shell Disconnect response.
    pub const DISCONNECT_RESPONSE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/DisconnectResponse";
    /// WinRM shell Reconnect (MS-WSMV 3.1.4.16).
    pub const RECONNECT: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Reconnect";
    /// WinRM shell Reconnect response.
    pub const RECONNECT_RESPONSE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReconnectResponse";
    /// WS-Addressing fault action.
    pub const ADDRESSING_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
    /// WS-Management fault action.
    pub const WSMAN_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
    /// WS-Enumeration fault action.
    pub const ENUMERATION_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault";
    /// WS-Transfer fault action.
    pub const TRANSFER_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/fault";
    /// WS-Eventing fault action.
    pub const EVENTING_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/fault";
    /// CIM binding fault action.
    pub const CIMBINDING_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/fault";
}

/// Filter dialect URIs.
pub mod dialect {
    /// XPath 1.0.
    pub const XPATH: &str = "http://www.w3.org/TR/1999/REC-xpath-19991116";
    /// The WS-Management selector filter.
    pub const SELECTOR: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter";
    /// WMI Query Language.
    pub const WQL: &str = "http://schemas.microsoft.com/wbem/wsman/1/WQL";
    /// CIM Query Language.
    pub const CQL: &str = "http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf";
    /// The CIM binding association filter.
    pub const ASSOCIATION: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter";
}

/// WS-Management eventing (DSP0226 clause 10) URIs.
pub mod eventing {
    /// WS-Eventing Push delivery.
    pub const PUSH: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryModes/Push";
    /// Push with an acknowledgement per delivery (DSP0226, eventing).
    pub const PUSH_WITH_ACK: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/PushWithAck";
    /// Batched delivery (DSP0226, eventing); also the Action of a batch.
    pub const EVENTS: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events";
    /// Pull delivery (DSP0226, eventing).
    pub const PULL: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull";
    /// The Action of a single event that defines none of its own.
    pub const EVENT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Event";
    /// The Action of a heartbeat.
    pub const HEARTBEAT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat";
    /// The Action of a subscriber's acknowledgement.
    pub const ACK: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack";
    /// The Action of a message that only says events were dropped.
    pub const DROPPED_EVENTS: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/DroppedEvents";
    /// The default bookmark: from the oldest event the source keeps.
    pub const BOOKMARK_EARLIEST: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest";
    /// SubscriptionEnd status: delivery failed.
    pub const STATUS_DELIVERY_FAILURE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryFailure";
    /// SubscriptionEnd status: the source is shutting down.
    pub const STATUS_SOURCE_SHUTTING_DOWN: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceShuttingDown";
    /// SubscriptionEnd status: the source ended the subscription for another reason.
    pub const STATUS_SOURCE_CANCELLING: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling";
    /// WinRM's event log resource URI.
    pub const EVENT_LOG_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog";
    /// The namespace of a Windows `<Event>`.
    pub const WIN_EVENT_NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";
    /// The WinRM event query filter dialect (`<QueryList>`).
    pub const EVENT_QUERY_DIALECT: &str =
        "http://schemas.microsoft.com/win/2004/08/events/eventquery";
}

/// URIs of the WinRM shell protocol.
pub mod shell {
    /// Prefix of command state URIs.
    pub const STATE_PREFIX: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/";
    /// Command finished.
    pub const STATE_DONE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";
    /// Command running.
    pub const STATE_RUNNING: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running";
    /// Command pending.
    pub const STATE_PENDING: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Pending";
    /// Prefix of signal code URIs.
    pub const SIGNAL_PREFIX: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/";
    /// WinRM's WSManFault code for "no output before OperationTimeout; Receive again".
    pub const RECEIVE_TIMEOUT_CODE: u32 = 2_150_858_793;
}

/// Prefix of `wsman:FaultDetail` URIs; the token follows.
pub const FAULT_DETAIL_PREFIX: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/";
