import type { Metadata } from "next";

import { JoinCode, normalizeJoinCode } from "../../../common/classroom";
import { FormAlert } from "../../../components/classroom/form-field";
import { JoinClassForm } from "../../../components/classroom/join-class-form";
import { BAD_CODE, decodeSegment, refusalFromQuery } from "../../../components/classroom/join-form";
import { JoinPage } from "../../../components/classroom/join-page";

type JoinCodeProps = {
  params: Promise<{ code: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
};

export async function generateMetadata({ params }: JoinCodeProps): Promise<Metadata> {
  const code = normalizeJoinCode(decodeSegment((await params).code));
  return { title: JoinCode.safeParse(code).success ? `Join class ${code}` : "Join a class" };
}

// The link an instructor shows: the code is given, only the name is asked. A form post the
// server refused comes back here with ?error=… naming why.
export default async function JoinWithCodeRoute({ params, searchParams }: JoinCodeProps) {
  const [{ code: raw }, query] = await Promise.all([params, searchParams]);
  const code = normalizeJoinCode(decodeSegment(raw));
  const refusal = refusalFromQuery(query.error);

  // A link copied with a letter missing is still a way in: ask for the code as well.
  if (!JoinCode.safeParse(code).success) {
    return (
      <JoinPage title="Join a class">
        <div className="mb-5">
          <FormAlert>That link&apos;s code is not one a class can have. {BAD_CODE}</FormAlert>
        </div>
        <JoinClassForm refusal={refusal} initialCode={code.slice(0, 32)} />
      </JoinPage>
    );
  }
  return (
    <JoinPage title="Join the class">
      <JoinClassForm fixedCode={code} refusal={refusal} />
    </JoinPage>
  );
}
