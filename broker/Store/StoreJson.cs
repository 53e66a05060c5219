using System.Text.Json;
using System.Text.Json.Serialization;

namespace GitHubActionsPort.Broker.Store;

/// <summary>How the SQL stores write a record's claims and lists into one text column each.</summary>
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<string>))]
internal sealed partial class StoreJson : JsonSerializerContext
{
    public static string Write(IReadOnlyDictionary<string, string> values) =>
        JsonSerializer.Serialize(new Dictionary<string, string>(values, StringComparer.Ordinal), Default.DictionaryStringString);

    public static string Write(IReadOnlyList<string> values) => JsonSerializer.Serialize(values.ToList(), Default.ListString);

    public static Dictionary<string, string> ReadDictionary(string text) =>
        new(JsonSerializer.Deserialize(text, Default.DictionaryStringString) ?? [], StringComparer.Ordinal);

    public static List<string> ReadList(string text) => JsonSerializer.Deserialize(text, Default.ListString) ?? [];
}
