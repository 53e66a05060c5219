using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace GitHubActionsPort.Broker.Connections;

/// <summary>Puts a <see cref="ConnectionGuard"/> in front of a Kestrel endpoint and lets its requests reach it.</summary>
internal static class ConnectionGuardExtensions
{
    /// <summary>
    /// Adds the guard as connection middleware. Call it before any TLS middleware is added, so that the handshake
    /// counts against the connection's deadline: a connection that never finishes one is just another unproven one.
    /// </summary>
    public static void UseConnectionGuard(this ListenOptions endpoint, Func<IServiceProvider, ConnectionGuard> guard)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(guard);
        endpoint.Use(next =>
        {
            var connections = guard(endpoint.ApplicationServices);
            return async context =>
            {
                var admitted = connections.TryAdmit(context.RemoteEndPoint, reason => context.Abort(new ConnectionAbortedException(reason)));
                if (admitted is null)
                {
                    context.Abort(new ConnectionAbortedException("no room for another connection"));
                    return;
                }

                context.Features.Set(admitted);
                try
                {
                    await next(context).ConfigureAwait(false);
                }
                finally
                {
                    admitted.Dispose();
                }
            };
        });
    }

    /// <summary>
    /// Tells each request's connection guard a request is in flight, so the connection's deadline waits for its
    /// answer.
    /// </summary>
    public static void UseConnectionGuardRequests(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Use(async (context, next) =>
        {
            var connection = context.Features.Get<GuardedConnection>();
            connection?.RequestStarted();
            try
            {
                await next(context).ConfigureAwait(false);
            }
            finally
            {
                connection?.RequestEnded();
            }
        });
    }
}
