import type { Metadata } from "next";

import { JoinClassForm } from "../../components/classroom/join-class-form";
import { refusalFromQuery } from "../../components/classroom/join-form";
import { JoinPage } from "../../components/classroom/join-page";

export const metadata: Metadata = { title: "Join a class" };

type JoinProps = { searchParams: Promise<Record<string, string | string[] | undefined>> };

// A form post that the server refused (an unknown code) comes back here with ?error=…
export default async function JoinRoute({ searchParams }: JoinProps) {
  const refusal = refusalFromQuery((await searchParams).error);
  return (
    <JoinPage title="Join a class">
      <JoinClassForm refusal={refusal} />
    </JoinPage>
  );
}
