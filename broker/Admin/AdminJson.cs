using System.Text.Json;
using System.Text.Json.Serialization;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>The admin endpoint's JSON, generated at build time: camelCase, as HTTP APIs spell it.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SessionsReply))]
[JsonSerializable(typeof(RevokeRequest))]
[JsonSerializable(typeof(RevokeReply))]
[JsonSerializable(typeof(IReadOnlyList<BlockSummary>))]
[JsonSerializable(typeof(AdminError))]
internal sealed partial class AdminJson : JsonSerializerContext;
