namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// One of the broker's listeners could not bind its address (port in use, address not on this host): the message
/// names the listener, the address and the configuration key that moves it, for a one-line error and exit code 3.
/// </summary>
internal sealed class ListenException(string message, Exception innerException) : IOException(message, innerException);
