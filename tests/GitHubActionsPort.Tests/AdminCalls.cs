using System.Net.Http.Headers;
using System.Text.Json;
using GitHubActionsPort.Broker.Admin;

namespace GitHubActionsPort.Tests;

/// <summary>An operator's calls to a test broker's admin endpoint, for fixtures that revoke a lease.</summary>
internal static class AdminCalls
{
    /// <summary>Runs <c>ghaport-broker sessions ...</c> in-process against the admin endpoint at <paramref name="adminUrl"/>.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> SessionsAsync(Uri adminUrl, string tokenFile, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        string[] all = [.. args, "--admin-url", adminUrl.ToString(), "--admin-token-file", tokenFile];
        var exitCode = await SessionsCommand.RunAsync(all, output, error).DefaultTimeout();
        return (exitCode, output.ToString(), error.ToString());
    }

    /// <summary>
    /// Lifts every block: a fixture's agents share one workflow run, so the block a revocation places on it must not
    /// outlive the test that revoked.
    /// </summary>
    public static async Task LiftAllBlocksAsync(Uri adminUrl, string tokenFile)
    {
        using var http = new HttpClient { BaseAddress = adminUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(tokenFile)).Trim());
        using var blocks = JsonDocument.Parse(await http.GetStringAsync(new Uri("admin/blocks", UriKind.Relative)).DefaultTimeout());
        foreach (var block in blocks.RootElement.EnumerateArray())
        {
            using var lifted = await http.DeleteAsync(new Uri("admin/blocks/" + block.GetProperty("id").GetString(), UriKind.Relative)).DefaultTimeout();
            lifted.EnsureSuccessStatusCode();
        }
    }
}
