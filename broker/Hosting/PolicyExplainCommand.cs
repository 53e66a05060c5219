using System.Text;
using System.Text.Json;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Policy;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// <c>ghaport-broker policy explain</c>: loads the configuration exactly as the broker does, reads one id-token
/// (never printing it), checks it with the broker's own validator unless <c>--no-verify</c>, and prints how the
/// policy judges it (<see cref="PolicyExplanation"/>). Platform engineers debug a policy with it instead of with
/// failed workflow runs.
/// </summary>
internal static class PolicyExplainCommand
{
    /// <summary>An id-token is about 1.5 KiB and the validator takes 16 KiB; a file much larger is not one.</summary>
    private const int MaxTokenFileBytes = 64 * 1024;

    private static readonly TimeSpan VerifyTimeout = TimeSpan.FromSeconds(20);

    public static async Task<int> RunAsync(BrokerArguments arguments, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var explain = arguments.Explain ?? throw new ArgumentException("not a policy explain command line", nameof(arguments));

        if (explain.Targets is { Count: > AccessPolicy.MaxTargetsPerSession })
        {
            await error.WriteLineAsync($"ghaport-broker: --targets: at most {AccessPolicy.MaxTargetsPerSession} targets, as for a session").ConfigureAwait(false);
            return BrokerCommand.ExitConfiguration;
        }

        string token;
        try
        {
            token = await ReadTokenAsync(explain.TokenFile).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"ghaport-broker: --token: {ex.Message}").ConfigureAwait(false);
            return BrokerCommand.ExitConfiguration;
        }

        Dictionary<string, string?>? overrides = null;
        if (explain.Dev)
        {
            // The dev broker trusts its development issuer, at a loopback port chosen as it started: the token names it.
            string issuer;
            try
            {
                issuer = ReadUnverified(token).Issuer;
            }
            catch (TokenRejectedException ex)
            {
                await error.WriteLineAsync($"ghaport-broker: the id-token fails verification: {ex.Message}").ConfigureAwait(false);
                return BrokerCommand.ExitTokenInvalid;
            }

            if (!DevConfiguration.IsDevIssuer(issuer))
            {
                await error.WriteLineAsync($"ghaport-broker: --dev: the id-token's issuer '{PolicyExplanation.Escape(issuer)}' is not a development issuer (those serve plain HTTP on loopback)").ConfigureAwait(false);
                return BrokerCommand.ExitTokenInvalid;
            }

            overrides = DevConfiguration.Overrides(issuer, arguments.DevTargets);
        }

        // The broker's own host, built but never started: the same configuration sources, validation and validator.
        var app = BrokerHost.Build(arguments.HostArgs, arguments.ConfigFiles, overrides, logging: logging => logging.ClearProviders());
        await using (app.ConfigureAwait(false))
        {
            var settings = app.Services.GetRequiredService<BrokerSettings>();
            CallerIdentity caller;
            try
            {
                caller = explain.Verify
                    ? await VerifyAsync(app.Services.GetRequiredService<IdTokenValidator>(), token).ConfigureAwait(false)
                    : ReadUnverified(token);
            }
            catch (TokenRejectedException ex)
            {
                await error.WriteLineAsync($"ghaport-broker: the id-token fails verification: {ex.Message}").ConfigureAwait(false);
                if (explain.Verify)
                {
                    await error.WriteLineAsync("ghaport-broker: to see how the policy judges its claims anyway, add --no-verify").ConfigureAwait(false);
                }

                return BrokerCommand.ExitTokenInvalid;
            }
            catch (IssuerUnavailableException ex)
            {
                await error.WriteLineAsync($"ghaport-broker: cannot verify the id-token: its issuer's signing keys are unreachable from here ({ex.Message})").ConfigureAwait(false);
                await error.WriteLineAsync("ghaport-broker: add --no-verify to check its claims against the policy without the signature").ConfigureAwait(false);
                return BrokerCommand.ExitTokenInvalid;
            }

            var explanation = new PolicyExplanation(settings, caller, explain.Verify);
            var decision = explanation.Write(output, explain.Targets);
            return decision.Allowed ? BrokerCommand.ExitOk : BrokerCommand.ExitDenied;
        }
    }

    private static async Task<string> ReadTokenAsync(string file)
    {
        var stream = file == "-" ? Console.OpenStandardInput() : File.OpenRead(file);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[MaxTokenFileBytes + 1];
            var length = 0;
            int read;
            while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length)).ConfigureAwait(false)) > 0)
            {
                length += read;
            }

            if (length > MaxTokenFileBytes)
            {
                throw new IOException($"'{file}' is larger than {MaxTokenFileBytes / 1024} KiB; an id-token is about 1.5 KiB");
            }

            var token = Encoding.UTF8.GetString(buffer, 0, length).Trim();
            return token.Length > 0 ? token : throw new IOException($"'{file}' is empty; it should hold one id-token");
        }
    }

    private static async Task<CallerIdentity> VerifyAsync(IdTokenValidator validator, string token)
    {
        using var timeout = new CancellationTokenSource(VerifyTimeout);
        try
        {
            // A dry run: the token's single use is left for the job it belongs to.
            return await validator.CheckWithoutSpendingAsync(token, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw new IssuerUnavailableException($"no answer within {VerifyTimeout.TotalSeconds:0} s");
        }
    }

    /// <summary>The claims as written, for <c>--no-verify</c>: read the way the validator reads a verified token.</summary>
    private static CallerIdentity ReadUnverified(string token)
    {
        try
        {
            var jwt = new JsonWebToken(token);
            var claims = TokenPayload.StringClaims(jwt, out var nonStringClaims);
            return new CallerIdentity(
                claims.GetValueOrDefault("iss") ?? string.Empty,
                claims.GetValueOrDefault("sub") ?? string.Empty,
                claims.GetValueOrDefault("jti") ?? string.Empty,
                jwt.ValidTo == DateTime.MinValue ? DateTimeOffset.MinValue : new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero),
                claims,
                nonStringClaims);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenException or JsonException or FormatException)
        {
            throw new TokenRejectedException("the id-token is not a well-formed JWT");
        }
    }
}
