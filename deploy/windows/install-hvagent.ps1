<#
.SYNOPSIS
  Installs hvagent as a Windows service on a Hyper-V host (WMI backend).

.DESCRIPTION
  Copies hvagent.exe to $InstallDir, writes its configuration, opens the
  agent's port for drserver, and registers the "hvagent" service that runs
  under LocalSystem (which the WMI namespace root\virtualization\v2
  requires; or pass -Credential for a member of "Hyper-V Administrators").
  Run from an elevated PowerShell on the Hyper-V host:
    .\install-hvagent.ps1 -Binary .\hvagent.exe -Listen 0.0.0.0:50061 -DrServer 10.0.0.5

.PARAMETER Binary       Path of the built hvagent.exe (see README, "Building the agent for Windows").
.PARAMETER InstallDir   Where the agent and its journal live.
.PARAMETER Listen       host:port the agent serves dr.v1.HostAgentService on.
.PARAMETER DrServer     Address allowed to reach the agent's port (firewall rule).
.PARAMETER Credential   Optional service account; LocalSystem when omitted.
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
  [Parameter(Mandatory = $true)] [string] $Binary,
  [string] $InstallDir = "$env:ProgramFiles\hvdr",
  [string] $Listen = "0.0.0.0:50061",
  [Parameter(Mandatory = $true)] [string] $DrServer,
  [System.Management.Automation.PSCredential] $Credential
)
$ErrorActionPreference = 'Stop'

if (-not (Get-CimInstance -Namespace 'root\virtualization\v2' -ClassName Msvm_ReplicationService -ErrorAction SilentlyContinue)) {
  throw "Hyper-V is not installed here (no root\virtualization\v2): hvagent would answer 32777."
}
if (-not (Test-Path $Binary)) { throw "No hvagent.exe at $Binary" }
$port = [int]($Listen.Split(':')[-1])

New-Item -ItemType Directory -Force -Path $InstallDir, "$InstallDir\data" | Out-Null
Copy-Item -Force $Binary "$InstallDir\hvagent.exe"
@"
# hvagent configuration (read by the service command line below)
listen=$Listen
backend=wmi
journal=$InstallDir\data\journal.db
"@ | Set-Content -Encoding UTF8 "$InstallDir\hvagent.conf"

$cmd = "`"$InstallDir\hvagent.exe`" --backend=wmi --listen=$Listen --journal=`"$InstallDir\data\journal.db`""
if (Get-Service hvagent -ErrorAction SilentlyContinue) {
  Stop-Service hvagent
  sc.exe delete hvagent | Out-Null
}
$params = @{ Name = 'hvagent'; BinaryPathName = $cmd; DisplayName = 'hvdr Hyper-V Replica agent';
             Description = 'Performs DR operations (failover, commit, reverse...) for drserver through WMI.';
             StartupType = 'Automatic' }
if ($Credential) { $params.Credential = $Credential }
New-Service @params | Out-Null
# Restart on failure: a crash never loses a job (the journal keeps it).
sc.exe failure hvagent reset= 86400 actions= restart/2000/restart/5000/restart/10000 | Out-Null

if (-not (Get-NetFirewallRule -DisplayName 'hvagent' -ErrorAction SilentlyContinue)) {
  New-NetFirewallRule -DisplayName 'hvagent' -Direction Inbound -Protocol TCP -LocalPort $port `
    -RemoteAddress $DrServer -Action Allow | Out-Null
}
Start-Service hvagent
Write-Host "hvagent installed in $InstallDir and listening on $Listen; register it with:"
Write-Host "  drctl hosts add $($env:COMPUTERNAME.ToLower()) --site SITE --agent $($env:COMPUTERNAME):$port"
